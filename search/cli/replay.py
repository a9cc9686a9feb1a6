"""``dfu-search replay``: what each pruning strategy would have saved on a study's recorded curves."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from search.cli._console import console, setup_logging
from search.cli._options import StorageOption
from search.pruners.names import REPLAYABLE


def replay(
    out: Annotated[Path, typer.Option("--out", help="Folder for replay.json and anytime.png.")],
    study: Annotated[
        str | None, typer.Option("--study", help="A study launched with --pruner none --no-rules.")
    ] = None,
    storage: StorageOption = None,
    curves: Annotated[
        Path | None, typer.Option("--curves", help="A curves file (from --save-curves) instead of a study.")
    ] = None,
    strategies: Annotated[str, typer.Option(help="Comma-separated, from: " + ", ".join(REPLAYABLE) + ".")] = ",".join(
        REPLAYABLE
    ),
    orderings: Annotated[int, typer.Option(help="Random orderings of the recorded trials.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the orderings.")] = 0,
    save_curves: Annotated[
        Path | None, typer.Option("--save-curves", help="Also write the study's curves as a compact .json.gz file.")
    ] = None,
    no_pretrain_cache: Annotated[
        bool,
        typer.Option(
            "--no-pretrain-cache",
            help="Replay as without the pre-training store: every trial pays for its own pre-training "
            "[default: a pre-training an earlier trial finished costs nothing].",
        ),
    ] = False,
) -> None:
    """Replay recorded learning curves through each pruning strategy, over many orderings of the trials."""
    setup_logging()
    from rich.progress import Progress

    from search.replay.figure import write_outputs
    from search.replay.simulate import run_replay

    recording = _recording(study, storage, curves, orderings, out)
    if save_curves is not None:
        recording.save(save_curves)
        console.print(f"wrote {save_curves} ({save_curves.stat().st_size / 1e6:.2f} MB)")
    names = [s.strip() for s in strategies.split(",") if s.strip()]
    if "median" not in names:
        names.append("median")  # the reference for speedup_vs_median
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"replaying {len(recording.trials)} trials × {orderings} orderings", total=len(names))
        document = run_replay(
            recording, names, orderings, seed, progress=lambda _: progress.advance(task), store=not no_pretrain_cache
        )
    path = write_outputs(document, out)
    console.print(_summary_table(document, recording.study))
    console.print(f"wrote {path} and {path.parent / 'anytime.png'}")


def _recording(study: str | None, storage: str | None, curves: Path | None, orderings: int, out: Path):
    """The curves to replay (from a study or a file), once the options are known to make sense."""
    from search.replay.recording import load_recording, record_from_study
    from trainer.errors import ConfigError

    if (study is None) == (curves is None):
        raise ConfigError("replay needs exactly one of --study or --curves")
    if orderings < 1:
        raise ConfigError(f"--orderings must be at least 1, got {orderings}")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a folder")
    if curves is not None:
        return load_recording(curves)
    from search.query.view import open_study

    return record_from_study(open_study(study, storage).study)


def _summary_table(document: dict, study: str):
    from rich.table import Table

    table = Table(title=f"replay of {study}: {document['trials']} trials, {document['orderings']} orderings")
    columns = [
        "strategy",
        "epochs (p05–p95)",
        "× vs median",
        "best within 0.01",
        "best found below the best: p50 / p95",
        "epochs to within 0.01",
    ]
    if document["store"]:
        columns += ["sooner vs plain median", "fewer epochs vs plain median"]
    for column in [*columns, "false prunes"]:
        table.add_column(column, justify="left" if column == "strategy" else "right")
    limits = {"oracle": document["oracle"], "oracle_at_fusion": document["oracle_at_fusion"]}
    reference = document["reference"].get("median_no_store")
    plain = {"median, no store (plain Optuna)": reference} if reference else {}
    for name, row in {**document["strategies"], **plain, **limits}.items():
        cells = [
            name + (" (default)" if name == document["default"] else ""),
            f"{row['epochs_mean']:.0f} ({row['epochs_p05']:.0f}–{row['epochs_p95']:.0f})",
            f"{row['speedup_vs_median']:.2f}" if row["speedup_vs_median"] else "",
            f"{row['p_best_within_001']:.0%}",
            f"{row['shortfall_p50']:.3f} / {row['shortfall_p95']:.3f}",
            f"{row['epochs_to_within_001']:.0f}",
        ]
        if document["store"]:
            cells += [f"{row['sooner_vs_median_no_store']:.2f}×", f"{row['fewer_epochs_vs_median_no_store']:.2f}×"]
        table.add_row(*cells, f"{row['false_prune_rate']:.1%}")
    return table


def register(app: typer.Typer) -> None:
    app.command()(replay)
