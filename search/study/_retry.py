"""Retrying a trial whose worker died or stopped: fail it, and queue it again with the same parameters, once.

One path for every way a trial is lost: the worker that stops (its own re-queue), the launcher that
sees a local worker die (:func:`fail_and_retry`), and the heartbeat sweep that finds a trial gone
silent on another machine (:class:`StaleTrialRetry`). All count retries in the same user attributes
and queue a failed trial again only once: on PostgreSQL and SQLite the claim and the copy are one
transaction (:meth:`storage._resilient.ResilientRDBStorage.enqueue_retry`), elsewhere they look for an
existing copy first. A copy carries the trial's parameters and pinned settings only, never what the
lost attempt recorded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import optuna
from optuna.trial import TrialState

from storage import rdb_backend

log = logging.getLogger(__name__)


#: Times a trial is queued again before it is left failed.
MAX_RETRY = 3


class StaleTrialRetry:
    """The heartbeat sweep's callback (``HeartbeatSettings.on_stale``): re-queue a trial whose worker went silent."""

    def __init__(self, max_retry: int = MAX_RETRY) -> None:
        self.max_retry = max_retry

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        retry_trial(study, trial, self.max_retry, why="whose worker stopped beating")


def fail_and_retry(study: optuna.Study, host: str, pids: set[int], max_retry: int = MAX_RETRY) -> list[int]:
    """Fail the RUNNING trials of dead workers (host, pid) and queue each again with the same parameters.

    The launcher calls this the moment a worker dies, on any storage; heartbeats do the same for
    workers on other machines, but only on RDB storages and only after the grace period.
    """
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        worker = trial.user_attrs.get("worker") or {}
        if worker.get("host") != host or worker.get("pid") not in pids:
            continue
        if retry_trial(study, trial, max_retry, why=f"of dead worker {sorted(pids)}"):
            failed.append(trial.number)
    return failed


def retry_trial(
    study: optuna.Study, trial: optuna.trial.FrozenTrial, max_retry: int = MAX_RETRY, why: str = ""
) -> bool:
    """Fail ``trial`` (if still RUNNING) and queue it again with the same parameters, at most once.

    Returns False if the trial had finished meanwhile (complete, pruned, or failed by another process
    that re-queued it). The queued copy keeps the enqueued preset's pinned settings and counts retries.
    """
    try:
        study._storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
    except optuna.exceptions.UpdateFinishedTrialError:
        now = study._storage.get_trial(trial._trial_id)
        if now.state != optuna.trial.TrialState.FAIL:
            return False  # it finished in the meantime
    root = trial.user_attrs.get("retry_of", trial.number)
    retries = int(trial.user_attrs.get("retries", 0))
    backend = rdb_backend(study._storage)
    if backend is None and _queued_again(study, root, retries):
        return False  # already queued again (by the launcher, or by the worker before it died)
    if retries >= max_retry:
        log.warning("trial %d failed %d times; not retrying", trial.number, retries + 1)
        return True
    attrs = {
        "overrides": trial.user_attrs.get("overrides", {}),
        "enqueued": trial.user_attrs.get("enqueued"),
        "retry_of": root,
        "retries": retries + 1,
        "retried_because": f"trial {trial.number} {why}".strip(),
    }
    if backend is None:
        study.enqueue_trial(trial.params, user_attrs=attrs, skip_if_exists=False)
    else:  # the check and the insert in one transaction: two processes retrying the same trial queue it once
        copy = optuna.trial.create_trial(state=TrialState.WAITING, system_attrs={"fixed_params": trial.params},
                                         user_attrs=attrs)  # fmt: skip
        if backend.enqueue_retry(study._study_id, trial._trial_id, copy) is None:
            return False  # already queued again (by the launcher, the heartbeat sweep, or the worker itself)
    log.warning("trial %d %s failed; queued again with the same parameters", trial.number, why or "")
    return True


def _queued_again(study: optuna.Study, root: int, retries: int) -> bool:
    """Whether a copy of the trial with more retries exists (storages without :meth:`enqueue_retry`)."""
    return any(
        t.user_attrs.get("retry_of") == root and int(t.user_attrs.get("retries", 0)) > retries
        for t in study.get_trials(deepcopy=False)
    )


def wait_out_silent_trials(
    study: optuna.Study, should_stop: Callable[[], bool] = lambda: False, sleep: Callable[[float], None] = time.sleep
) -> list[int]:
    """What a worker does when it leaves a study: fail (and queue again) each RUNNING trial whose worker went silent.

    The heartbeat sweep runs when a worker starts a trial; once the budget is met nobody does, so a trial whose
    remote worker died shortly before would stay RUNNING for ever. A leaving worker watches the RUNNING trials'
    heartbeats: as soon as one beats (or a new trial starts), a live worker is still in the study and leaves
    later, watching in turn, so this one leaves. Until then it is the last worker out: each trial past the grace
    period (a live worker riding out a database outage beats again before that) is failed through the one retry
    path; the queued copy runs when the study is resumed, and ``dfu-search status`` shows why it was queued.
    Leaving thus takes up to one heartbeat interval while other workers run (it looks every 2 s at most).
    Returns the trials it failed.
    Storages without heartbeats return at once.
    """
    backend = rdb_backend(study._storage)
    if backend is None or backend.heartbeat_interval is None:
        return []
    interval, grace = backend.heartbeat_interval, backend.grace_period
    _, first_beats = backend.heartbeats(study._study_id)
    failed: list[int] = []
    while first_beats and not should_stop():
        now, beats = backend.heartbeats(study._study_id)
        if not beats:
            break
        if any(trial_id not in first_beats or beat > first_beats[trial_id] for trial_id, beat in beats.items()):
            break  # a live worker: it leaves after this one
        silent = {trial_id: (now - beat).total_seconds() for trial_id, beat in beats.items()}
        for trial_id, seconds in silent.items():
            if seconds > grace:
                trial = study._storage.get_trial(trial_id)
                why = f"went silent ({seconds:.0f} s without a heartbeat) after the budget was met; failed by the last worker out"
                if retry_trial(study, trial, why=why):
                    failed.append(trial.number)
        if len(failed) == len(first_beats):
            break
        log.info("budget met; watching %d running trial(s) silent for %.0f s or more (grace period %d s)",
                 len(silent), min(silent.values()), grace)  # fmt: skip
        sleep(min(interval / 2, 2.0))  # a finished trial or a new beat ends the wait soon after it happens
    return failed
