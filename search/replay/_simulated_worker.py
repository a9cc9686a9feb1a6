"""A worker whose training is replayed from recorded learning curves: the load benchmark's worker (bench/scale.py).

Everything but the trainer is the real worker's: it joins the study by name through
:func:`~search.workers._worker.join_study`, samples its knobs with the study's sampler, reports every epoch
through the real :class:`~search.workers._objective.Objective` hooks (the degeneracy rules, the study's
pruner, the ``curve`` and ``folds`` attributes), rides out outages in the resilient storage, beats its
heartbeat, and runs until the study's shared budget is met in the real trial loop. Only
:meth:`Objective._train` is replaced: a sampled configuration trains as the recorded trial nearest to it
in the searched knobs, one recorded epoch every ``epoch_seconds`` — so pruning decides as it would on
real curves, and the database sees what hundreds of workers would send it. Keras is never imported, so
hundreds of these run as threads of a few processes (``bench/scale.py``).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import optuna

from search.replay._recording import RecordedTrial, Recording
from search.study import StudySettings, load_study, report_from_row
from search.workers import Objective, join_study, run_trials
from storage import HeartbeatSettings, open_storage
from trainer.config import TrainConfig
from trainer.stages import StopStage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Scores:
    qwk: float


@dataclass(frozen=True)
class _FoldResult:
    """What :meth:`Objective` reads of a finished fold (trainer.stages.FoldResult's shape)."""

    fold: int
    scores: _Scores
    metadata_qwk: float
    pred_histogram: list[int]
    val_visits: None = None  # a recorded curve has no predictions: nothing for the selection estimate
    val_probabilities: None = None

    def summary(self) -> dict:
        return {"fold": self.fold, "qwk": self.scores.qwk, "metadata_qwk": self.metadata_qwk, "fusion_weight": None,
                "stages": {}, "confusion": [], "pred_histogram": self.pred_histogram}  # fmt: skip


class SimulatedObjective(Objective):
    """:class:`Objective` with the trainer replaced by the recorded trial nearest to the sampled knobs."""

    def __init__(
        self,
        settings: StudySettings,
        recording: Recording,
        epoch_seconds: float,
        store: set[tuple[int, str]] | None = None,
    ) -> None:
        super().__init__(settings, Path("."), Path("."), artifact_store=None)
        self.recording, self.epoch_seconds = recording, epoch_seconds
        # (fold, pre-training) pairs some worker of this process trained: stands in for the pre-training store,
        # so a stored pre-training costs no time and is reported as cached (set.add is atomic across threads)
        self.store = store if store is not None else set()
        self.worker = {**self.worker, "thread": threading.current_thread().name}

    def _train(self, trial: optuna.Trial, config: TrainConfig, callbacks) -> dict:
        recorded = nearest_recorded(self.recording, trial.params)
        identity = recorded.pretrain_identity
        curve, skipped, metadata = recorded.curve, None, []
        for i, row in enumerate(curve):
            report = report_from_row(row)
            fold_ends = i + 1 == len(curve) or curve[i + 1][1] != report.fold
            if (report.fold, report.stage) != skipped:
                cached = report.stage == "pretrain" and (report.fold, identity) in self.store
                if not cached:
                    time.sleep(self.epoch_seconds)
                try:
                    callbacks.on_epoch(replace(report, cached=cached))
                except StopStage:
                    skipped = (report.fold, report.stage)
            if report.stage == "pretrain" and (fold_ends or curve[i + 1][2] != "pretrain"):
                self.store.add((report.fold, identity))
            if fold_ends:
                baseline = report.baseline_qwk if math.isfinite(report.baseline_qwk) else 0.0
                metadata.append(baseline)
                callbacks.on_fold(
                    _FoldResult(report.fold, _Scores(recorded.fold_qwks[report.fold]), baseline, report.pred_histogram)
                )
        return {"qwk": recorded.value, "metadata_qwk": sum(metadata) / len(metadata)}


def nearest_recorded(recording: Recording, params: dict) -> RecordedTrial:
    """The recorded trial whose searched knobs are closest to ``params`` (learning rates compared on a log
    scale): a sampler that finds good regions finds good curves, as it would on the real trainer."""

    def distance(trial: RecordedTrial) -> float:
        total = 0.0
        for name, value in params.items():
            theirs = trial.params.get(name)
            if not isinstance(value, (int, float)) or not isinstance(theirs, (int, float)):
                total += value != theirs
            elif name.startswith("lr") and value > 0 and theirs > 0:
                total += (math.log10(value) - math.log10(theirs)) ** 2
            else:
                total += ((value - theirs) / (abs(theirs) + 1e-9)) ** 2
        return total

    return min(recording.trials, key=distance)


def run_simulated_worker(
    study_name: str,
    storage_url: str,
    recording: Recording,
    epoch_seconds: float,
    index: int,
    heartbeat: HeartbeatSettings | None,
    store: set[tuple[int, str]] | None = None,
) -> int:
    """One simulated worker, as :func:`~search.workers._worker.run_worker` runs a real one: its own storage
    (its own connection pool, as a process has), until the budget is met. Returns the trials it ran."""
    storage = open_storage(storage_url, heartbeat, wait_at_start=True, create=False)
    settings = StudySettings.load(load_study(study_name, storage))
    study, _ = join_study(study_name, storage, settings, index)
    objective = SimulatedObjective(settings, recording, epoch_seconds, store)
    try:  # no signal handlers: signals reach the main thread only, and these workers are threads
        return run_trials(study, objective, settings.trials, handle_signals=False)
    finally:
        if hasattr(storage, "engine"):
            storage.engine.dispose()  # a thread's pool, closed with it


def first_folds(recording: Recording, folds: int) -> Recording:
    """``recording`` cut to its first ``folds`` folds: shorter trials, for a quick test of many workers."""
    if folds >= recording.folds:
        return recording
    trials = [replace(t, curve=[row for row in t.curve if row[1] < folds], fold_qwks=t.fold_qwks[:folds],
                      value=float(sum(t.fold_qwks[:folds]) / folds)) for t in recording.trials]  # fmt: skip
    return replace(recording, folds=folds, trials=trials)


def simulated_settings(
    recording: Recording, trials: int, pruner: str, sampler: str = "tpe", seed: int = 0
) -> StudySettings:
    """Settings of a study whose trials are replayed from ``recording``: its step layout and folds, the default
    search space, the study's budget, pruner and sampler."""
    from search.pruners import DegeneracyRules
    from search.study import load_space
    from trainer.config import STAGES, apply, load_config

    layout = {f"epochs_{stage}": n for stage, n in zip(STAGES, recording.epochs)}
    # a config has 2 folds or more; a recording cut to one fold (first_folds) ends its trials after it
    base = apply(load_config("quick"), {"folds": max(recording.folds, 2), "seed": seed, **layout}, "simulation")
    return StudySettings(
        data=f"simulated:{recording.study}", fingerprint={}, base_config=base.as_dict(),
        space=load_space(None).to_dict(), trials=trials, pruner=pruner, sampler=sampler,
        rules=DegeneracyRules().as_dict(), seed=seed,
    )  # fmt: skip
