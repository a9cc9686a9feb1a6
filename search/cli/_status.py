"""``dfu-search status``: trial states, the best trial, prune reasons and trials per worker."""

from __future__ import annotations

from collections import Counter

import optuna
from rich.console import Console
from rich.table import Column, Table

from search.query import worker_label
from search.study import StudySettings, finished_trials


def print_status(study: optuna.Study, console: Console) -> None:
    settings = StudySettings.load(study)
    trials = study.get_trials(deepcopy=False)
    states = Counter(t.state.name for t in trials)
    console.print(
        f"[bold]{study.study_name}[/bold]: {len(trials)} trials, finished {finished_trials(study)}/{settings.trials} — "
        + ", ".join(
            f"{name.lower()} {states.get(name, 0)}" for name in ("COMPLETE", "PRUNED", "RUNNING", "WAITING", "FAIL")
        )
    )
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    if complete:
        best = study.best_trial
        params = ", ".join(f"{k}={_short(v)}" for k, v in best.params.items())
        console.print(f"best: trial {best.number}, mean QWK {best.value:.4f} ({params})")
        if "metadata_qwk" in best.user_attrs:
            console.print(f"      metadata-only QWK on the same folds {best.user_attrs['metadata_qwk']:.4f}")

    pruned = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED]
    if pruned:
        reasons = [t.user_attrs.get("prune_reason", {}) for t in pruned]
        # the rule is what a user reads this table for: never cut it, let the other columns wrap
        rule = Column("rule", no_wrap=True, min_width=max(len(str(r.get("rule", "?"))) for r in reasons))
        table = Table("trial", "preset", rule, "fold", "stage", "epoch", "step", "pred I/P/R", title="pruned trials")
        for t, r in zip(pruned, reasons):
            table.add_row(
                str(t.number),
                t.user_attrs.get("enqueued") or "",
                r.get("rule", "?"),
                str(r.get("fold", "")),
                r.get("stage", ""),
                str(r.get("epoch", "")),
                str(r.get("step", "")),
                "/".join(map(str, r.get("histogram", []))),
            )
        console.print(table)

    enqueued = [t for t in trials if t.user_attrs.get("enqueued")]
    if enqueued:
        # the rules' names wrap, never cut, however narrow the terminal (an 80-column one cut "kappa_nonpos…")
        stops_column = Column("stages ended by a rule (fold stage epoch)", overflow="fold")
        table = Table("trial", "preset", "state", "QWK", "metadata QWK", stops_column, title="enqueued presets")
        for t in enqueued:
            stops = "; ".join(
                f"{r['rule']} (f{r['fold']} {r['stage']} {r['epoch']})" for r in t.user_attrs.get("stage_stops", [])
            )
            meta = t.user_attrs.get("metadata_qwk")
            table.add_row(str(t.number), t.user_attrs["enqueued"], t.state.name.lower(), _final_value(t),
                          "" if meta is None else f"{meta:.4f}", stops)  # fmt: skip
        console.print(table)

    retried = [t for t in trials if t.user_attrs.get("retried_because")]
    if retried:  # a lost trial's copy says what happened to the attempt before it
        table = Table("trial", "state", "queued again because", title="lost trials queued again")
        for t in retried:
            table.add_row(str(t.number), t.state.name.lower(), t.user_attrs["retried_because"])
        console.print(table)

    per_worker = Counter()
    for t in trials:
        worker = t.user_attrs.get("worker")
        if worker:
            per_worker[(worker_label(worker), t.state.name)] += 1
    if per_worker:
        table = Table("worker", "complete", "pruned", "running", "fail", title="trials per worker")
        for name in sorted({w for w, _ in per_worker}):
            table.add_row(name, *(str(per_worker[(name, s)]) for s in ("COMPLETE", "PRUNED", "RUNNING", "FAIL")))
        console.print(table)


def _final_value(trial: optuna.trial.FrozenTrial) -> str:
    """A complete trial's mean QWK; a pruned trial's last reported value is one fold's QWK at one epoch: partial."""
    if trial.value is None:
        return ""
    if trial.state == optuna.trial.TrialState.COMPLETE:
        return f"{trial.value:.4f}"
    reason = trial.user_attrs.get("prune_reason") or {}
    where = f" at f{reason['fold']} {reason['stage']} e{reason['epoch']}" if "fold" in reason else ""
    return f"({trial.value:.3f} partial{where})"


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
