"""``dfu-search replay``: what each pruning strategy would have saved on a study's recorded curves."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from search.cli._console import console, setup_logging
from search.cli._options import StorageOption
from search.pruners import REPLAYABLE


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
    lead_percentile: Annotated[
        float | None,
        typer.Option(
            "--lead-percentile",
            min=0,
            max=100,
            help="Also replay orderings led by the trial at this percentile of the finals (e.g. 90: a strong "
            "enqueued default first, as `launch --enqueue default` starts), reported beside the random ones.",
        ),
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

    from search.replay import percentile_trial, run_replay, write_outputs

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
        if lead_percentile is not None:
            lead = percentile_trial(recording, lead_percentile)
            task = progress.add_task(f"orderings led by the {lead_percentile:g}th-percentile trial", total=len(names))
            led = run_replay(recording, names, orderings, seed, progress=lambda _: progress.advance(task),
                             store=not no_pretrain_cache, lead=lead)  # fmt: skip
            led.pop("_anytime")
            chosen = recording.trials[lead]
            document["led"] = {"percentile": lead_percentile, "trial": chosen.number, "value": chosen.value, **led}
    path = write_outputs(document, out)
    console.print(_summary_table(document, recording.study))
    if "led" in document:
        led = document["led"]
        title = (f"led by trial {led['trial']} (QWK {led['value']:.3f}, the {led['percentile']:g}th percentile of the "
                 f"finals), then random")  # fmt: skip
        console.print(_summary_table(led, f"{recording.study}, {title}"))
    console.print(f"wrote {path} and {path.parent / 'anytime.png'}")


def _recording(study: str | None, storage: str | None, curves: Path | None, orderings: int, out: Path):
    """The curves to replay (from a study or a file), once the options are known to make sense."""
    from search.replay import load_recording, record_from_study
    from trainer import ConfigError

    if (study is None) == (curves is None):
        raise ConfigError("replay needs exactly one of --study or --curves")
    if orderings < 1:
        raise ConfigError(f"--orderings must be at least 1, got {orderings}")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a folder")
    if curves is not None:
        return load_recording(curves)
    from search.query import open_study

    return record_from_study(open_study(study, storage).study)


def _summary_table(document: dict, study: str):
    """One row a strategy: epochs in all, how often the best was kept, and the expected running time (ERT) to
    within 0.01 and 0.02 of the best, against the oracle at fusion (the limit) and plain Optuna."""
    from rich.table import Table

    table = Table(title=f"replay of {study}: {document['trials']} trials, {document['orderings']} orderings; "
                        "ERT = epochs over all orderings / orderings that reached the target")  # fmt: skip
    columns = ["strategy", "epochs (p05–p95)", "best kept: within 0.01 / 0.02", "ERT to 0.01 / 0.02",
               "ERT × oracle at fusion"]  # fmt: skip
    if document["store"]:
        columns += ["sooner than plain median", "fewer epochs than plain"]
    for column in [*columns, "false prunes"]:
        table.add_column(column, justify="left" if column == "strategy" else "right")
    limits = {"oracle": document["oracle"], "oracle_at_fusion": document["oracle_at_fusion"]}
    reference = document["reference"].get("median_no_store")
    plain = {"median, no store (plain Optuna)": reference} if reference else {}
    for name, row in {**document["strategies"], **plain, **limits}.items():
        cells = [
            name + (" (default)" if name == document["default"] else ""),
            f"{row['epochs_mean']:.0f} ({row['epochs_p05']:.0f}–{row['epochs_p95']:.0f})",
            f"{row['p_best_within_001']:.0%} / {row['p_best_within_002']:.0%}",
            f"{_number(row['ert_within_001'], '.0f')} / {_number(row['ert_within_002'], '.0f')}",
            _pair(row, "ert_{}_vs_oracle_at_fusion"),
        ]
        if document["store"]:
            cells += [_pair(row, "sooner_{}_vs_median_no_store"), f"{row['fewer_epochs_vs_median_no_store']:.2f}×"]
        table.add_row(*cells, f"{row['false_prune_rate']:.1%}")
    return table


def _number(value: float | None, spec: str) -> str:
    """A ratio or an ERT: ∞ when never reached, — when undefined (neither side reached the target)."""
    if value is None:
        return "—"
    return "∞" if math.isinf(value) else format(value, spec)


def _pair(row: dict, pattern: str) -> str:
    return " / ".join(_number(row[pattern.format(key)], ".2f") + "×" for key in ("001", "002"))


def register(app: typer.Typer) -> None:
    app.command()(replay)
