"""A trial → a trainer config (base + sampled knobs) → the three-stage trainer → mean fold QWK.

Every epoch becomes ``trial.report(val QWK, global step)``; the degeneracy rules and then the
statistical pruner decide whether to stop. The trainer knows nothing of this: it only calls the
``on_epoch`` hook, which raises :class:`optuna.TrialPruned` to stop it.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path

import numpy as np
import optuna
from optuna.artifacts import FileSystemArtifactStore

from search.pruners import DegeneracyRules, Judge, prune_reason
from search.study import OOF_STUDY_ATTR, OOF_TRIAL_ATTR, StudySettings, curve_row, encode_oof, encode_visits
from search.workers._stopping import StopRequest
from trainer import RunCallbacks, prepare, train
from trainer.config import TrainConfig, apply
from trainer.stages import EpochReport, StopStage

log = logging.getLogger(__name__)


def worker_identity(gpu: str | None) -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(), "gpu": gpu if gpu is not None else "cpu"}


class Objective:
    """Callable for ``study.optimize``. Keeps each data/image-size combination loaded across trials."""

    def __init__(
        self,
        settings: StudySettings,
        data: Path,
        cache_dir: Path,
        gpu: str | None = None,
        artifact_store: FileSystemArtifactStore | None = None,
        reuse_pretraining: bool = True,
    ) -> None:
        self.settings = settings
        self.reuse_pretraining = reuse_pretraining
        self.data = Path(data)
        self.cache_dir = Path(cache_dir)
        self.worker = worker_identity(gpu)
        self.base = settings.config
        self.space = settings.search_space
        self.artifact_store = artifact_store
        self.stop: StopRequest | None = None  # the worker's; checked at every epoch boundary
        self.current: optuna.Trial | None = None  # the trial running now (or the last one)
        self._prepared: dict[tuple, tuple] = {}
        self._visits_recorded = False

    def config_for(self, trial: optuna.Trial) -> TrainConfig:
        """Base config, then an enqueued trial's pinned settings, then the sampled knobs."""
        pinned = dict(trial.user_attrs.get("overrides", {}))
        sampled = self.space.sample(trial, skip=set(pinned))
        return apply(self.base, {**self.space.fixed, **pinned, **sampled}, f"trial {trial.number}")

    def __call__(self, trial: optuna.Trial) -> float:
        self.current = trial
        if self.stop is not None:
            self.stop.check()
        started = time.perf_counter()
        config = self.config_for(trial)
        trial.set_user_attr("config", config.as_dict())
        trial.set_user_attr("worker", self.worker)
        reporter = _Reporter(trial, self.settings, config.folds, self.stop)
        summary: dict | None = None
        error: str | None = None
        try:
            callbacks = RunCallbacks(on_epoch=reporter, on_fold=reporter.on_fold, stage_rules=reporter.stage_rules)
            summary = self._train(trial, config, callbacks)
        except optuna.TrialPruned:
            raise
        except Exception as exc:
            error = repr(exc)[:1000]
            trial.set_user_attr("error", error)
            raise
        finally:
            trial.set_user_attr("epochs_trained", reporter.epochs)
            trial.set_user_attr("wall_seconds", round(time.perf_counter() - started, 2))
            trial.set_user_attr("curve", reporter.curve)
            if summary is not None:
                trial.set_user_attr("metadata_qwk", summary["metadata_qwk"])
                self._keep_out_of_fold(trial, config, reporter)
            stopping = self.stop is not None and self.stop.reason is not None
            if self.artifact_store is not None and not stopping:  # an interrupted trial runs again: no plots
                self._upload(trial, config, reporter, summary, error)
        return float(summary["qwk"])

    def _train(self, trial: optuna.Trial, config: TrainConfig, callbacks: RunCallbacks) -> dict:
        """Train ``config``, calling ``callbacks`` after every epoch and fold; the run's summary (``qwk`` and
        ``metadata_qwk`` at least). The load benchmark replaces this with recorded curves
        (:mod:`search.replay._simulated_worker`)."""
        return train(
            self.data,
            config,
            self.cache_dir,
            callbacks=callbacks,
            prepared=self._prepare(config),
            reuse_pretraining=self.reuse_pretraining,
        )

    def _upload(self, trial, config: TrainConfig, reporter: _Reporter, summary: dict | None, error: str | None):
        """Learning curves, confusion matrix and result.json as the trial's artifacts (pruned and failed too)."""
        from search.visualization import upload_diagnostics

        if summary is not None:
            title = f"trial {trial.number}: complete, mean QWK {summary['qwk']:.3f}"
            result = {"state": "complete", **summary}
        else:
            reason = reporter.prune_reason
            state = "pruned" if reason else "failed"
            if reason:
                title = (
                    f"trial {trial.number}: pruned by {reason['rule']} "
                    f"(fold {reason['fold']} {reason['stage']} epoch {reason['epoch']})"
                )
            else:
                title = f"trial {trial.number}: failed ({(error or 'interrupted')[:60]})"
            result = {"state": state, "prune_reason": reason, "error": error, "folds": reporter.folds}
            result["config"] = config.as_dict()
        result["epochs_trained"] = reporter.epochs
        upload_diagnostics(self.artifact_store, trial, result, reporter.curve, reporter.folds, title)

    def _keep_out_of_fold(self, trial: optuna.Trial, config: TrainConfig, reporter: _Reporter) -> None:
        """The complete trial's out-of-fold predictions, and (once per study) its visits' labels and patients:
        what the selection estimate re-chooses the best trial on (search.study._oof)."""
        if not reporter.out_of_fold:
            return  # a simulated trial (the load benchmark) has no predictions
        metadata = self._prepare(config)[0].metadata
        trial.set_user_attr(OOF_TRIAL_ATTR, encode_oof(len(metadata.labels), reporter.out_of_fold))
        if not self._visits_recorded:
            if OOF_STUDY_ATTR not in trial.study.user_attrs:  # every worker writes the same value: no race to lose
                trial.study.set_user_attr(OOF_STUDY_ATTR, encode_visits(metadata.labels, metadata.patients))
            self._visits_recorded = True

    def _prepare(self, config: TrainConfig):
        key = (config.modalities, config.image_size)
        if key not in self._prepared:
            self._prepared[key] = prepare(self.data, config, self.cache_dir)
        return self._prepared[key]


class _Reporter:
    """The trainer's hooks for one trial: record the curve, let the :class:`Judge` decide, stop what it says."""

    def __init__(self, trial: optuna.Trial, settings: StudySettings, folds: int, stop: StopRequest | None) -> None:
        self.trial = trial
        self.stop = stop
        rules = DegeneracyRules.from_dict(settings.rules)
        self.judge = Judge(trial, settings.pruner, rules, folds)
        self.stage_rules = rules.as_dict() if rules.enabled else None  # what may end a stage: part of the store's key
        self.epochs = 0  # epochs trained in this trial (reports from the pre-training store are not)
        self.curve: list[list] = []  # one row per epoch, columns as search.study._curves.CURVE_COLUMNS
        self.folds: list[dict] = []
        self.prune_reason: dict | None = None
        self.stage_stops: list[dict] = []
        self.out_of_fold: list[tuple[int, np.ndarray, np.ndarray]] = []  # (fold, visits, probabilities) per fold

    def __call__(self, report: EpochReport) -> None:
        self.epochs += not report.cached
        self.curve.append(curve_row(report))
        if self.stop is not None:
            self.stop.check()  # a requested stop ends the trial here, between two epochs
        verdict = self.judge.on_epoch(report)
        if verdict is None:
            return
        reason = prune_reason(verdict.rule, report, verdict.detail)
        if verdict.stage_only:  # the trainer ends the stage and keeps the previous one
            self.stage_stops.append(reason)
            self.trial.set_user_attr("stage_stops", self.stage_stops)
            raise StopStage(verdict.rule)
        self._prune(reason)

    def on_fold(self, result) -> None:
        summary = result.summary()
        keys = ("fold", "qwk", "metadata_qwk", "fusion_weight", "stages", "confusion")
        self.folds.append({k: summary[k] for k in keys})
        self.trial.set_user_attr("folds", self.folds)
        if result.val_visits is not None:
            self.out_of_fold.append((result.fold, result.val_visits, result.val_probabilities))
        verdict = self.judge.on_fold(result.fold, float(result.scores.qwk))
        if verdict is not None:
            last = self.curve[-1] if self.curve else [None] * 4
            self._prune(
                {"rule": verdict.rule, "fold": result.fold, "stage": "fold-end", "epoch": last[3], "step": last[0],
                 "histogram": list(summary["pred_histogram"]), "val_qwk": float(result.scores.qwk)}
            )  # fmt: skip

    def _prune(self, reason: dict) -> None:
        self.prune_reason = reason
        self.trial.set_user_attr("prune_reason", reason)
        raise optuna.TrialPruned(f"{reason['rule']} in fold {reason['fold']} {reason['stage']} epoch {reason['epoch']}")
