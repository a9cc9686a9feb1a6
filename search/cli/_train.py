"""``dfu-search train`` and ``dfu-search demo-data``: one training run, and synthetic data to run it on."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from search.cli._console import console, setup_logging
from search.cli._options import (
    CacheOption,
    ConfigOption,
    DataOption,
    FoldsOption,
    NoPretrainCacheOption,
    PresetOption,
    SeedOption,
    SetOption,
)  # fmt: skip


def train(
    data: DataOption,
    modalities: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated: metadata, depth_rgb, depth_map, thermal_rgb, thermal_map "
            "[default: metadata,depth_rgb,thermal_map when the data has images]."
        ),
    ] = None,
    folds: FoldsOption = None,
    seed: SeedOption = None,
    out: Annotated[Path | None, typer.Option(help="Output folder for result.json [default: runs/train-TIME].")] = None,
    preset: PresetOption = None,
    config: ConfigOption = None,
    set_: SetOption = None,
    save_models: Annotated[
        bool,
        typer.Option(
            help="Save the final models into --out: config.toml, each fold's network (.keras) "
            "and metadata model (.joblib); reload with trainer.load_final_model."
        ),
    ] = False,
    cache_dir: CacheOption = None,
    stage_rules: Annotated[
        bool,
        typer.Option(
            help="End a degenerate stage early by the search's degeneracy rules, as a study's trial does "
            "(so that a trial's config trains to the trial's QWK)."
        ),
    ] = True,
    no_pretrain_cache: NoPretrainCacheOption = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug messages.")] = False,
) -> None:
    """Train and cross-validate the classifier once; writes OUT/result.json and OUT/oof.csv (every visit's
    out-of-fold prediction: the model of the fold that held it out)."""
    setup_logging(verbose)
    from trainer import default_cache_dir, load_config
    from trainer.config import apply

    overrides = list(set_ or [])
    settings = load_config(preset, config, overrides)
    cli_values = {"modalities": modalities, "folds": folds, "seed": seed}
    settings = apply(settings, {k: v for k, v in cli_values.items() if v is not None}, "command line")
    out = out or Path("runs") / time.strftime("train-%Y%m%d-%H%M%S")
    cache = cache_dir or default_cache_dir()

    summary = _train_with_display(data, settings, cache, out, save_models, stage_rules, not no_pretrain_cache)
    from search.cli._display import results_table

    console.print(results_table(summary))
    console.print(
        f"mean QWK {summary['qwk']:.4f} over {settings.folds} folds in {summary['wall_seconds']:.1f} s; wrote {out / 'result.json'} and {out / 'oof.csv'}"
    )


def _train_with_display(data, settings, cache, out, save_models: bool, stage_rules: bool, reuse: bool) -> dict:
    """The run with its live progress; the rules a study's trial applies when ``stage_rules`` (so that a trial's
    config retrains to its QWK and shares its stored pre-trainings)."""
    from search.cli._display import TrainingDisplay
    from trainer import RunCallbacks
    from trainer import train as run_training

    with TrainingDisplay(console, settings.folds, settings.steps_per_fold) as display:
        on_epoch, rules = display.on_epoch, None
        if stage_rules:
            from search.pruners import DegeneracyRules, StageStopper

            rules = DegeneracyRules()
            on_epoch = StageStopper(rules, then=display.on_epoch)
        callbacks = RunCallbacks(on_epoch=on_epoch, on_fold=display.on_fold, on_images=display.on_images,
                                 stage_rules=rules.as_dict() if rules else None)  # fmt: skip
        return run_training(data, settings, cache, out=out, callbacks=callbacks, save_models=save_models,
                            reuse_pretraining=reuse)  # fmt: skip


def demo_data(
    out: Annotated[Path, typer.Argument(help="New folder to write (must not exist or be empty).")],
    from_metadata: Annotated[
        Path | None, typer.Option(help="Keep this metadata CSV's rows and labels; draw images for them.")
    ] = None,
    patients: Annotated[int, typer.Option(help="Synthetic patients (ignored with --from-metadata).")] = 80,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    shots: Annotated[int, typer.Option(help="Shots (image rows) per visit, 1-4.")] = 3,
    image_signal: Annotated[
        str | None,
        typer.Option(
            help="Strength of the images' class cue: one number for every modality, or "
            "MODALITY=VALUE,... for some (0 = no signal). Default: calibrated so that images alone score "
            "like the real ones (depth_rgb=0.42, depth_map=0.38, thermal_rgb=0.5, thermal_map=0.62)."
        ),
    ] = None,
    metadata_signal: Annotated[
        float,
        typer.Option(help="Strength of the phase in the synthetic clinical columns (ignored with --from-metadata)."),
    ] = 0.4,
    fixed_world: Annotated[
        bool,
        typer.Option(
            "--fixed-world",
            help="Cut the labels by the world's phase thresholds, not this sample's: folders drawn with different "
            "--seed are then new patients of one world (a test set for a model trained on another). Default: each "
            "folder's label shares are exactly I/P/R 31/56/13 %.",
        ),
    ] = False,
) -> None:
    """Write a synthetic data folder in the DFU study's layout (metadata CSV, box CSVs, four image folders)."""
    setup_logging()
    from rich.progress import Progress

    from demodata import write_demo_data

    started = time.perf_counter()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("drawing images", total=None)
        summary = write_demo_data(
            out,
            from_metadata,
            patients,
            seed,
            shots,
            image_signal=image_signal,
            metadata_signal=metadata_signal,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
            fixed_world=fixed_world,
        )
    counts = ", ".join(f"{k} {v}" for k, v in summary.label_counts.items())
    console.print(
        f"wrote {summary.folder}: {summary.visits} visits of {summary.patients} patients ({counts}), "
        f"{summary.shots} shots in {time.perf_counter() - started:.1f} s"
    )


def register(app: typer.Typer) -> None:
    app.command()(train)
    app.command("demo-data")(demo_data)
