"""One trial's pruning decisions, after every epoch and every fold; shared by live workers and ``replay``.

A strategy (``--pruner``) is a way of reporting plus a way of deciding:

============  =====================================================  ==========================================
strategy      reports                                                decides
============  =====================================================  ==========================================
none          val QWK per epoch at its global step                   never
median        val QWK per epoch                                      Optuna ``MedianPruner`` (stock settings)
hyperband     val QWK per epoch                                      Optuna ``HyperbandPruner`` (stock)
wilcoxon      each finished fold's QWK at step = fold                Optuna ``WilcoxonPruner``: folds as instances
forgiving     val QWK per epoch                                      after each fold, :func:`forgiving_race`
ours          val QWK per epoch                                      :class:`SameStepPruner` per stage + race
running-mean  val QWK per epoch                                      :class:`SameStepPruner` per trial, no race
near-best     val QWK per epoch                                      the same, near the best and over trials reached
============  =====================================================  ==========================================

The degeneracy rules (:class:`~search.pruners._rules.DegeneracyRules`) come first in every strategy unless
the study was launched with ``--no-rules``.
"""

from __future__ import annotations

import optuna

from search.pruners._race import forgiving_race, incumbent_folds
from search.pruners._rules import DegeneracyRules, RuleWatch, Verdict
from search.pruners._same_step import CompletedTrials
from search.pruners._strategies import RACE_MARGINS
from trainer.stages import EpochReport, StopStage

_EPOCH_PRUNERS = ("near-best", "running-mean", "ours", "median", "hyperband")
FOLD_RACERS = tuple(RACE_MARGINS)


class Judge:
    """``fold_race``: race folds against the incumbent (default: the strategies in :data:`FOLD_RACERS`), forgiving
    a fold ``race_margin`` below the incumbent's worst (default: the strategy's own, ``RACE_MARGINS``)."""

    def __init__(
        self,
        trial: optuna.Trial,
        strategy: str,
        rules: DegeneracyRules,
        folds: int,
        fold_race: bool | None = None,
        race_margin: float | None = None,
    ) -> None:
        self.trial, self.strategy, self.folds = trial, strategy, folds
        self.fold_race = strategy in FOLD_RACERS if fold_race is None else fold_race
        self.race_margin = RACE_MARGINS.get(strategy, 0.0) if race_margin is None else race_margin
        self.fold_qwks: list[float] = []
        self._rules = RuleWatch(rules)
        self._pruner = pruner = trial.study.pruner
        # share the pruner's snapshot of completed trials: one storage read per fold, not two
        self.completed: CompletedTrials = getattr(pruner, "completed", None) or CompletedTrials()
        # should_prune reads the trial back from the storage: skip it where the pruner would not look
        self._judges = getattr(pruner, "judges", lambda step: True)

    def on_epoch(self, report: EpochReport) -> Verdict | None:
        """Report the epoch and say whether the trial (or, ``stage_only``, the stage) must stop."""
        if self.strategy != "wilcoxon":
            self.trial.report(report.val_qwk, report.step)
        verdict = self._rules(report)
        if verdict is not None:
            return verdict
        if self.strategy in _EPOCH_PRUNERS and self._judges(report.step) and self.trial.should_prune():
            return Verdict(self.strategy, detail=getattr(self._pruner, "last_decision", None))
        return None

    def on_fold(self, fold: int, qwk: float) -> Verdict | None:
        """A fold has finished with ``qwk``; say whether the trial must stop before the next fold."""
        self.fold_qwks.append(qwk)
        if self.strategy == "wilcoxon":
            self.trial.report(qwk, fold)
            return Verdict("wilcoxon") if self.trial.should_prune() else None
        if self.fold_race and len(self.fold_qwks) < self.folds:
            completed = self.completed.get(self.trial.study, (self.trial.number, fold))
            if forgiving_race(self.fold_qwks, incumbent_folds(completed), self.race_margin):
                return Verdict("forgiving")
        return None


class StageStopper:
    """The rules' stage-only verdicts as an ``on_epoch`` hook for a plain training run (``dfu-search train``).

    A trial's value includes the stages its rules ended early; applying the same rules when the trial's
    config is trained again (``best`` → ``train --config``) reproduces it exactly.
    """

    def __init__(self, rules: DegeneracyRules, then=None) -> None:
        self._rules, self.then = RuleWatch(rules), then

    def __call__(self, report: EpochReport) -> None:
        if self.then is not None:
            self.then(report)
        verdict = self._rules(report)
        if verdict is not None and verdict.stage_only:
            raise StopStage(verdict.rule)
