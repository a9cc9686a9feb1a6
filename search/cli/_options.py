"""Command-line options that several commands share, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from search.pruners import DEFAULT_PRUNER, PRUNER_HELP

StorageOption = Annotated[
    str | None,
    typer.Option(
        "--storage",
        help="Study storage URL: sqlite:///FILE, postgresql://USER:PASS@HOST/DB or journal:///FILE "
        "[default: $DFU_SEARCH_STORAGE, else sqlite:///dfu-search.db].",
    ),
]
StudyOption = Annotated[str, typer.Option("--study", help="Study name.")]
DataOption = Annotated[
    Path,
    typer.Option("--data", help="A metadata CSV (metadata only) or a data folder in the DFU study's layout."),
]
CacheOption = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir",
        help="Preprocessing cache (images, RandomForest probabilities), shared by every worker and study on the "
        "same data [default: $DFU_SEARCH_CACHE or ~/.cache/dfu-search].",
    ),
]
ArtifactsOption = Annotated[
    Path | None,
    typer.Option(
        "--artifacts",
        help="Folder for trial diagnostics (learning curves, confusion matrices, result.json) "
        "[default: $DFU_SEARCH_ARTIFACTS, else the study's, else beside the SQLite/journal file, "
        "else ./dfu-search-artifacts]. Shared storage needs a folder every worker can reach.",
    ),
]

# --- trainer settings, shared by train and launch ---
PresetOption = Annotated[
    str | None, typer.Option(help="Trainer preset (default, quick, degenerate) or TOML file [default: default].")
]
ConfigOption = Annotated[Path | None, typer.Option("--config", help="Trainer config TOML, applied after the preset.")]
SetOption = Annotated[
    list[str] | None, typer.Option("--set", help="Override one trainer setting: key=value (repeatable).")
]
FoldsOption = Annotated[int | None, typer.Option(help="Patient-grouped folds [default: the config's, 5].")]
SeedOption = Annotated[
    int | None,
    typer.Option(help="Seed of folds, RF and networks; in a study worker i samples with seed·1000 + i [default: 0]."),
]

NoPretrainCacheOption = Annotated[
    bool,
    typer.Option(
        "--no-pretrain-cache",
        help="Train every image pre-training instead of taking identical ones from the store under the cache "
        "folder (shared by every run, trial, worker and study on the same data).",
    ),
]

# --- launch ---
NewDataOption = Annotated[Path | None, typer.Option("--data", help="Data (CSV or folder); needed to create a study.")]
WorkersOption = Annotated[
    int,
    typer.Option(
        help="Local worker processes (0: only create/resume the study). At most one per GPU "
        "(times --workers-per-gpu) or one per CPU core, unless --oversubscribe."
    ),
]
TrialsOption = Annotated[
    int | None,
    typer.Option(
        help="New study: its budget of finished (complete + pruned) trials [default: 20]. Existing study: "
        "run this many more from now (budget = finished + TRIALS) [default: keep its budget]."
    ),
]
SpaceOption = Annotated[Path | None, typer.Option(help="TOML file that fixes, narrows or adds searched knobs.")]
EnqueueOption = Annotated[
    list[str] | None, typer.Option(help="Preset or TOML file to run as a trial, once per study (repeatable).")
]
PrunerOption = Annotated[
    str | None,
    typer.Option(
        help="Pruning strategy: "
        + "; ".join(f"{name} ({what})" for name, what in PRUNER_HELP.items())
        + f" [default: {DEFAULT_PRUNER}]."
    ),
]
SamplerOption = Annotated[
    str | None,
    typer.Option(help="Sampler: tpe, or random (an unbiased sample of the space, e.g. for replay) [default: tpe]."),
]
NoRulesOption = Annotated[bool, typer.Option("--no-rules", help="Turn off the degeneracy rules (for comparisons).")]
GpusOption = Annotated[
    str | None,
    typer.Option(
        help="Comma-separated GPU indices or GPU-/MIG- UUIDs [default: $CUDA_VISIBLE_DEVICES if set, else "
        "every GPU nvidia-smi lists]."
    ),
]
WorkersPerGpuOption = Annotated[int, typer.Option(help="Workers sharing each GPU.")]
OversubscribeOption = Annotated[
    bool, typer.Option("--oversubscribe", help="Start more workers than GPUs or CPU cores.")
]
LogDirOption = Annotated[
    Path | None, typer.Option(help="Worker logs [default: the study's artifact folder, under STUDY/logs].")
]
