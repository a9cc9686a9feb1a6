"""Query commands of the CLI: ``trials``, ``best``, ``report`` and ``dashboard``. All read-only."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Annotated

import typer

from search.cli._console import console
from search.cli._options import ArtifactsOption, StorageOption, StudyOption
from trainer.config import STAGES

_SHORT = {
    "alpha_cap": "α cap",
    "lr_pretrain": "lr p",
    "lr_stage1": "lr s1",
    "lr_stage2": "lr s2",
    "fusion_init": "fusion",
}


def trials(
    study: StudyOption,
    storage: StorageOption = None,
    format_: Annotated[str, typer.Option("--format", help="table, csv or json (a list of rows).")] = "table",
) -> None:
    """One row per trial: state, QWK, parameters, prune rule and where it fired, best epochs, duration, worker.

    QWK is a complete trial's mean over its folds; a pruned trial shows no QWK, and its last reported value (one
    fold's QWK at one epoch) is marked partial beside where it was pruned (``partial_value`` in csv and json)."""
    from search.query import open_study
    from trainer import ConfigError

    if format_ not in ("table", "csv", "json"):
        raise ConfigError(f"--format must be table, csv or json, got {format_!r}")
    view = open_study(study, storage)
    snapshot = view.trials()
    frame = view.trials_frame(snapshot)
    if format_ == "csv":
        frame.to_csv(sys.stdout, index=False)
    elif format_ == "json":
        reasons = {t.number: t.user_attrs.get("prune_reason") for t in snapshot}
        rows = json.loads(frame.to_json(orient="records", double_precision=15))
        for row in rows:
            row["prune_reason"] = reasons.get(row["number"])
        sys.stdout.write(json.dumps(rows, indent=1) + "\n")
    else:
        console.print(_table(frame, view.settings.search_space.names, f"trials of {view.name}"))


def best(
    study: StudyOption,
    out: Annotated[Path, typer.Option("--out", help="TOML file to write; `dfu-search train --config` reads it.")],
    storage: StorageOption = None,
) -> None:
    """Write the best trial's full trainer config as TOML, for `dfu-search train --config`."""
    from search.query import open_study
    from trainer import ConfigError

    if out.is_dir():
        raise ConfigError(f"--out {out}: is a folder; name the TOML file to write, e.g. {out / 'best.toml'}")
    if not out.parent.resolve().is_dir():
        raise ConfigError(f"--out {out}: folder {out.parent.resolve()} does not exist")
    view = open_study(study, storage)
    trial = view.best_trial()
    config = view.best_config()
    with console.status("estimating what the chosen trial will score on new patients …"):
        estimate = view.selection_estimate()
    lines = estimate.describe() if estimate else [_NO_ESTIMATE]
    header = (
        f"# best trial {trial.number} of study {view.name!r}: mean QWK {trial.value:.4f} over {config.folds} folds\n"
        + "".join(f"# {line}\n" for line in lines)
        + f"# train the final models: dfu-search train --data DATA --config {out.name} --save-models --out final\n"
    )
    out.write_text(header + config.to_toml())
    params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial.params.items())
    console.print(f"trial {trial.number}: mean QWK {trial.value:.4f} ({params}); wrote {out}", soft_wrap=True)
    for line in lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True)


#: What ``best`` and ``report`` say when no complete trial kept its out-of-fold predictions.
_NO_ESTIMATE = (
    "no estimate for new patients: no complete trial kept out-of-fold predictions (trials run before 2026-12-07)"
)


def report(
    study: StudyOption,
    out: Annotated[Path, typer.Option("--out", help="Folder for the HTML and PNG plots.")],
    storage: StorageOption = None,
) -> None:
    """Optimization history, intermediate values, parameter importances and parallel coordinates (HTML + PNG)."""
    from search.query import open_study
    from search.visualization import write_report
    from trainer import ConfigError

    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file; name a folder for the plots")
    if not out.resolve().parent.is_dir():
        raise ConfigError(f"--out {out}: folder {out.resolve().parent} does not exist")
    view = open_study(study, storage)
    with console.status(f"drawing the plots of {view.name} …"):
        outcome = write_report(view, out)
    for key, result in outcome.items():
        console.print(f"  {key}: {result}", markup=False)
    console.print(f"wrote {out / 'index.html'}")


def dashboard(
    storage: StorageOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on; anything but loopback exposes it.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
    artifacts: ArtifactsOption = None,
) -> None:
    """Serve optuna-dashboard on the study storage, with the trials' diagnostics (artifacts) wired in."""
    from search.cli._console import check_port_free, warn_if_exposed
    from search.visualization import dashboard_artifact_dir, open_artifact_store
    from storage import open_storage, redact, resolve_url

    url = resolve_url(storage)
    check_port_free(host, port)
    optuna_storage = open_storage(url, heartbeat=None, create=False)
    folder = dashboard_artifact_dir(url, optuna_storage, artifacts)
    store = open_artifact_store(folder, for_writing=False)
    warn_if_exposed(host, port, "dashboard", " and can delete studies")
    console.print(f"dashboard for {redact(url)} (artifacts in {folder}) on http://{host}:{port}/  — Ctrl-C stops it")
    console.file.flush()
    from optuna_dashboard import run_server

    run_server(optuna_storage, host=host, port=port, artifact_store=store)


_STAGE_SHORT = {"pretrain": "p", "stage1": "s1", "stage2": "s2", "fold-end": "end"}


def _table(frame, params: list[str], title: str):
    """A summary that stays legible at 80 columns (the best epochs and seconds join from 100; a long prune reason
    wraps rather than being cut); blanks for missing values. ``--format csv`` has every column."""
    from rich import box
    from rich.table import Table

    wide = console.width >= 100
    headers = ["#", "state", "QWK", *(_SHORT.get(p, p) for p in params), "pruned"]
    headers += ["best ep p/s1/s2", "ep", "s"] if wide else ["ep"]
    rows = []
    for row in frame.to_dict(orient="records"):
        pruned = ""
        if _present(row["prune_rule"]):
            stage = _STAGE_SHORT.get(row["prune_stage"], row["prune_stage"])
            rule = row["prune_rule"] + (f"/{row['prune_test']}" if _present(row["prune_test"]) else "")
            pruned = f"{rule} f{_int(row['prune_fold'])} {stage} e{_int(row['prune_epoch'])}"
            if _present(row["partial_value"]):  # one fold's QWK at one epoch: never in the QWK column
                pruned += f", partial {row['partial_value']:.3f}"
        cells = [
            str(row["number"]),
            row["state"].lower(),
            _cell(row["value"]),
            *(_cell(row[p]) for p in params),
            pruned,
        ]
        if wide:
            cells.append("/".join(_int(row[f"best_epoch_{s}"]) or "–" for s in STAGES))
        cells.append(_int(row["epochs_trained"]))
        if wide:
            cells.append(_cell(row["duration_s"]))
        rows.append(cells)
    table = Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, collapse_padding=True)
    widths = [max([len(header), *(len(r[i]) for r in rows)]) for i, header in enumerate(headers)]
    at = headers.index("pruned")  # the one column that gives way on a narrow terminal: it wraps, never cut
    left = console.width - sum(w for i, w in enumerate(widths) if i != at) - 2 * len(headers)
    widths[at] = max(8, min(widths[at], left))
    for cells in rows:
        cells[at] = "\n".join(_wrapped(cells[at], widths[at]))
    for header, width in zip(headers, widths):
        justify = "left" if header in ("state", "pruned") else "right"
        table.add_column(header, justify=justify, no_wrap=True, min_width=width, max_width=width)
    for cells in rows:
        table.add_row(*cells)
    return table


def _wrapped(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width``, broken after a space, ``_``, ``-`` or ``/`` where it can be (a rule
    name like ``images_add_nothing`` breaks at its parts), within a word only where a part is longer."""
    lines, line = [], ""
    for part in re.findall(r"[^ _/-]*[ _/-]?", text):
        if len(line) + len(part.rstrip()) > width and line:
            lines.append(line.rstrip())
            line = ""
        while len(part.rstrip()) > width:
            lines.append(part[:width])
            part = part[width:]
        line += part
    if line.strip():
        lines.append(line.rstrip())
    return lines or [""]


def _present(value) -> bool:
    import pandas as pd

    return value is not None and not (isinstance(value, float) and pd.isna(value)) and value != ""


def _int(value) -> str:
    """Counts (epochs, folds) as integers; blank when missing (pandas stores them as floats beside NaN)."""
    return str(int(value)) if _present(value) else ""


def _cell(value) -> str:
    if not _present(value):
        return ""
    if isinstance(value, float):
        return f"{value:.1e}".replace("e-0", "e-") if 0 < abs(value) < 0.01 else f"{value:.3g}"
    return str(value)


def register(app: typer.Typer) -> None:
    app.command()(trials)
    app.command()(best)
    app.command()(report)
    app.command()(dashboard)
