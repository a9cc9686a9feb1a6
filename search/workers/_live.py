"""The launcher's live display: the study's counts, and per worker its device, trial and where that trial is."""

from __future__ import annotations

import optuna
from rich.console import Group
from rich.table import Table

from storage import StorageError, redact
from trainer.config import StepLayout

States = optuna.trial.TrialState


def render(study: optuna.Study, budget: int, storage_url: str, layout: StepLayout, workers: list) -> Group:
    """One refresh: a header line and a row per worker (fold, stage, epoch and last QWK of its trial)."""
    try:
        trials = study.get_trials(deepcopy=False)
    except StorageError as exc:  # the database is down: keep supervising, show why
        return Group(f"[yellow]{exc}[/yellow]", _workers_table(workers, {}, layout))
    count = {s: sum(1 for t in trials if t.state == s) for s in States}
    finished = count[States.COMPLETE] + count[States.PRUNED]
    best = max((t.value for t in trials if t.state == States.COMPLETE and t.value is not None), default=None)
    head = Table.grid(padding=(0, 2))
    head.add_row(f"[bold]{study.study_name}[/bold] on {redact(storage_url)}")
    head.add_row(
        f"finished {finished}/{budget}   complete {count[States.COMPLETE]}   pruned {count[States.PRUNED]}   "
        f"running {count[States.RUNNING]}   failed {count[States.FAIL]}   "
        + (f"best QWK {best:.4f}" if best is not None else "best QWK –")
    )
    running = {}
    for t in trials:
        if t.state == States.RUNNING and t.user_attrs.get("worker"):
            running[t.user_attrs["worker"].get("pid")] = t
    return Group(head, _workers_table(workers, running, layout))


def _workers_table(workers: list, running: dict, layout: StepLayout) -> Table:
    table = Table("worker", "device", "pid", "state", "trial", "where", "QWK", "restarts", box=None)
    for w in workers:
        pid = w.process.pid if w.process else None
        trial = running.get(pid)
        where, qwk = "–", "–"
        if trial is not None and trial.intermediate_values:
            step = max(trial.intermediate_values)
            try:
                fold, stage, epoch, _ = layout.locate(step)
                where = f"f{fold} {stage} e{epoch}"
            except ValueError:
                where = f"step {step}"
            qwk = f"{trial.intermediate_values[step]:.3f}"
        table.add_row(
            str(w.slot.index), w.slot.device, str(pid or "–"), w.state,
            str(trial.number) if trial is not None else "–", where, qwk, str(w.restarts),
        )  # fmt: skip
    return table
