"""Is a study whole after many workers, outages and deaths? Lost, duplicated and stuck trials, and the budget.

The retry paths (:mod:`search.study._retry`) and the resilient storage (:mod:`storage._resilient`) promise that
a study loses no trial, runs none twice and leaves none RUNNING, and that the shared budget of finished
trials is met with an overshoot of at most ``workers − 1`` (each other worker finishes the trial it has
when the budget is reached). This module counts what a study shows of that promise; the load benchmark
and its test assert it after every run.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass

import optuna
from optuna.trial import TrialState

from search.study._retry import MAX_RETRY


@dataclass(frozen=True)
class Integrity:
    budget: int
    finished: int  # complete + pruned
    states: dict[str, int]
    lost: int  # failed by a worker's death or stop, never queued again (and under the retry limit)
    # the same trial queued twice or run to the end twice (one write creating two trials cannot happen: the
    # write-token table's primary key refuses the second insert, storage._write_tokens)
    duplicated: int
    running: int  # still RUNNING with nobody running it (call once every worker has exited)
    overshoot: int  # finished − budget

    def whole(self, workers: int) -> bool:
        """No trial lost, duplicated or stuck, and the budget met with an overshoot of at most ``workers − 1``."""
        return (self.lost, self.duplicated, self.running) == (0, 0, 0) and 0 <= self.overshoot <= max(workers - 1, 0)

    def as_dict(self) -> dict:
        return asdict(self)


def check_integrity(study: optuna.Study, budget: int) -> Integrity:
    """Count lost, duplicated and stuck trials and the budget's overshoot, from the study alone."""
    trials = study.get_trials(deepcopy=False)
    states = Counter(t.state.name for t in trials)
    finished = states["COMPLETE"] + states["PRUNED"]
    # A retried trial's copies share its root (retry_of) and count their retries: 1, 2, ...
    copies = Counter((t.user_attrs.get("retry_of", t.number), int(t.user_attrs.get("retries", 0))) for t in trials)
    queued_twice = sum(n - 1 for n in copies.values() if n > 1)
    ended = Counter(t.user_attrs.get("retry_of", t.number) for t in trials if t.state in _ENDED)
    ran_twice = sum(n - 1 for n in ended.values() if n > 1)
    lost = 0
    for trial in trials:
        if trial.state != TrialState.FAIL or "error" in trial.user_attrs:  # a trial's own error is not a loss
            continue
        root, retries = trial.user_attrs.get("retry_of", trial.number), int(trial.user_attrs.get("retries", 0))
        if retries < MAX_RETRY and (root, retries + 1) not in copies:
            lost += 1
    return Integrity(
        budget=budget,
        finished=finished,
        states=dict(states),
        lost=lost,
        duplicated=queued_twice + ran_twice,
        running=states["RUNNING"],
        overshoot=finished - budget,
    )


_ENDED = (TrialState.COMPLETE, TrialState.PRUNED)
