"""Comparisons against other trials that an early fold cannot distort (docs/pruning.md).

Optuna's ``MedianPruner`` compares a trial's *best value over all steps so far* with the other trials'
median at the current step. With one global step across folds and stages, a trial that once did
well in fold 0 is shielded for the rest of its folds. Two fixes, used together by ``--pruner ours``:

- :class:`SameStepPruner` compares like with like: the trial's best value *within the current fold*
  (over its judged stages, which is what the fold reports: early stopping restores the best epoch)
  against the completed trials' best values within the same fold, up to the same step.
- :func:`forgiving_race` races whole folds against the incumbent after each fold (Bergman, Purucker
  & Hutter, AutoML 2024): stop when the mean of the trial's folds so far is at or below the
  incumbent's *worst* fold.

Both read the completed trials through :class:`CompletedTrials`, which re-reads the storage once per
fold of a trial instead of on every report.
"""

from __future__ import annotations

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from storage import cached_trials, rdb_backend
from trainer.config import STAGES, StepLayout, TrainConfig


class CompletedTrials:
    """A snapshot of the study's completed trials, refreshed when the key (trial, fold) changes; with
    ``pruned``, of its pruned trials too (:attr:`pruned`, read in the same refresh).

    On PostgreSQL and SQLite a refresh reads only the trials finished since the last one (a finished
    trial never changes); Optuna's own read takes every running trial again too, which with W workers makes
    each refresh cost O(W) and the study's reads O(W²) (bench/scale.py). The first refresh starts from the
    completed trials Optuna's trial cache already holds (the sampler read them at ``ask``)."""

    def __init__(self, pruned: bool = False) -> None:
        self._key: tuple | None = None
        self._with_pruned = pruned
        self._trials: list[FrozenTrial] = []
        self.pruned: list[FrozenTrial] = []  # as of the last refresh; empty unless asked for
        self._read: dict[int, FrozenTrial] = {}  # trial id → finished trial, kept across refreshes

    def get(self, study: optuna.Study, key: tuple) -> list[FrozenTrial]:
        if key != self._key:
            states = (TrialState.COMPLETE, TrialState.PRUNED) if self._with_pruned else (TrialState.COMPLETE,)
            finished = self._finished(study, states)  # one read for both states
            self._trials = [t for t in finished if t.state == TrialState.COMPLETE]
            self.pruned = [t for t in finished if t.state == TrialState.PRUNED]
            self._key = key
        return self._trials

    def _finished(self, study: optuna.Study, states: tuple[TrialState, ...]) -> list[FrozenTrial]:
        backend = rdb_backend(study._storage)
        if backend is None:
            return study.get_trials(deepcopy=False, states=states)
        if not self._read:  # a worker's first snapshot: start from what its sampler's ask already read
            self._read.update(cached_trials(study._storage, study._study_id, TrialState.COMPLETE))
        return backend.trials_in_state(study._study_id, states, self._read)


class SameStepPruner(optuna.pruners.BasePruner):
    """Prune when the trial's best value so far is below the ``percentile`` of the completed trials' best
    values up to the same step. ``percentile`` may be one value per fold (the last one holds for the folds
    after it): a running mean over more folds says more about the final, so later folds can be judged harder.

    ``reference="reached"`` takes the percentile over every trial that reached the step, pruned ones too (their
    values up to where they stopped), and ``n_startup_trials`` counts those. Over completed trials alone (Optuna's
    way, ``"complete"``) the reference ratchets: every prune removes a weak trial from the trials that will
    complete, so the percentile climbs with the pruning itself, and in the end stops trials as good as the best
    (docs/pruning.md). ``best_margin``: also prune a trial more than this below the best completed trial's value
    at the same step — judged from the first completed trial on, so the first trials need not all run whole;
    ``best="incumbent"`` measures it from the incumbent's value at that step, not the highest of all. Like
    ``percentile``, ``best_margin`` may be one value per fold: in fold 0 the estimate is one fold's early QWK,
    noisier than a mean over finished folds, so a wider margin there stops fewer good trials that start slow.
    ``hold_rising``: judge no epoch at which the trial's compared value rose by more than this over its value one
    epoch before, in the same fold: a slow starter still climbing is judged once it levels off, not on the way up.

    Judged only in ``stages`` (by default the fusion stages, whose value is the fused QWK; image
    pre-training alone says little about what fusion will reach) and from ``min_epochs`` into a stage.
    ``per="fold"`` takes the best over the fold's judged stages so far — the fold's own result, since
    early stopping restores its best epoch, so a fine-tuning stage that starts below stage 1's best is
    not held against the trial; ``per="trial"`` the mean of that over the folds so far (the finished
    folds' bests and this fold's best so far), an estimate of the trial's value that a weak start in a
    later fold does not overturn alone; ``per="stage"`` (v1) the best within the current stage only,
    which loses good trials whose fine-tuning starts lower (docs/pruning.md).
    """

    def __init__(
        self,
        layout: TrainConfig | StepLayout,
        percentile: float | tuple[float, ...] = 50.0,
        n_startup_trials: int = 5,
        min_epochs: int = 2,
        stages: tuple[str, ...] = ("stage1", "stage2"),
        per: str = "stage",
        reference: str = "complete",
        best_margin: float | tuple[float, ...] | None = None,
        best: str = "max",
        hold_rising: float | None = None,
    ) -> None:
        if per not in _PER:
            raise ValueError(f"per must be one of {', '.join(_PER)}, got {per!r}")
        if reference not in _REFERENCE:
            raise ValueError(f"reference must be one of {', '.join(_REFERENCE)}, got {reference!r}")
        if best not in _BEST:
            raise ValueError(f"best must be one of {', '.join(_BEST)}, got {best!r}")
        self.layout = layout if isinstance(layout, StepLayout) else layout.layout
        # one percentile (and margin) per fold, the last one for the folds after it
        self.percentiles = _per_fold(percentile)
        self.best_margins = None if best_margin is None else _per_fold(best_margin)
        self.n_startup_trials, self.min_epochs = n_startup_trials, min_epochs
        self.stages, self.per = stages, per
        self.reference, self.best = reference, best
        self.hold_rising = hold_rising
        self.completed = CompletedTrials(pruned=reference == "reached")
        #: Which test stopped the last trial pruned by this process, and against what bar (its ``prune_reason``).
        self.last_decision: dict | None = None

    def judges(self, step: int) -> bool:
        """Whether :meth:`prune` would look at this step at all: the caller can skip reading the trial back."""
        _, stage, epoch, _ = self.layout.locate(step)
        return stage in self.stages and epoch >= self.min_epochs

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        self.last_decision = None
        step = trial.last_step
        if step is None or not self.judges(step):
            return False
        fold = self.layout.locate(step)[0]
        mine = self._value(trial.intermediate_values, step)
        if mine is None or self._rising(trial.intermediate_values, step, fold, mine):
            return False
        completed_trials = self.completed.get(study, (trial.number, fold))
        completed = self._values_at(completed_trials, step)
        best = self._best_at(completed_trials, completed, step) if self.best_margins is not None else None
        if best is not None:
            margin = self.best_margins[min(fold, len(self.best_margins) - 1)]
            if mine < best - margin:
                return self._decided("best", mine, best - margin, len(completed))
        theirs = completed
        if self.reference == "reached":  # a pruned trial only up to where it stopped
            reached = [t for t in self.completed.pruned if t.last_step is not None and t.last_step >= step]
            theirs = completed + self._values_at(reached, step)
        if len(theirs) < self.n_startup_trials:
            return False
        percentile = self.percentiles[min(fold, len(self.percentiles) - 1)]
        bar = float(np.percentile(theirs, percentile))
        return mine < bar and self._decided("percentile", mine, bar, len(theirs))

    def _rising(self, values: dict[int, float], step: int, fold: int, mine: float) -> bool:
        """Whether ``hold_rising`` holds judgement at ``step`` (in ``fold``): the value rose by more than it since
        the epoch before, in the same fold's judged stages (a fold's first judged epoch has nothing before it)."""
        if self.hold_rising is None or step == 0:
            return False
        before_fold, before_stage = self.layout.locate(step - 1)[:2]
        if before_fold != fold or before_stage not in self.stages:
            return False
        before = self._value(values, step - 1)
        return before is not None and mine - before > self.hold_rising

    def _best_at(self, trials: list[FrozenTrial], values: list[float], step: int) -> float | None:
        """The value ``best_margin`` is measured from: the highest of the completed trials' values at ``step``
        (``best="max"``), or the incumbent's — the completed trial with the best final value — at ``step``
        (``best="incumbent"``). The highest of many noisy values runs above any one trial's: a trial with a lucky
        first fold sets it, and it climbs with every trial that completes."""
        if not trials:
            return None
        if self.best == "max":
            return max(values) if values else None
        return self._value(max(trials, key=lambda t: t.value).intermediate_values, step)

    def _decided(self, test: str, estimate: float, bar: float, trials: int) -> bool:
        """Record why a trial is pruned: ``test`` "best" (below the best completed trial less ``best_margin``) or
        "percentile"; the compared ``estimate``, the ``bar`` it fell below, and how many ``trials`` set the bar."""
        self.last_decision = {"test": test, "estimate": estimate, "bar": bar, "against_trials": trials}
        return True

    def _values_at(self, trials: list[FrozenTrial], step: int) -> list[float]:
        """The compared value at ``step`` of each trial that reached it."""
        return [v for v in (self._value(t.intermediate_values, step) for t in trials) if v is not None]

    def _value(self, values: dict[int, float], step: int) -> float | None:
        """What is compared at ``step``, for any trial: its best so far in this stage (``per="stage"``) or
        fold (``"fold"``), or the mean of its finished folds' bests and this fold's best so far (``"trial"``)."""
        fold, _, _, first = self.layout.locate(step)
        if self.per == "stage":
            return _best_between(values, first, step)
        current = _best_between(values, self.layout.step(fold, self.stages[0], 1), step)
        if self.per == "fold" or current is None:
            return current
        last_stage = self.stages[-1]
        last_epoch = self.layout.epochs[STAGES.index(last_stage)]
        folds = [_best_between(values, self.layout.step(f, self.stages[0], 1), self.layout.step(f, last_stage, last_epoch))
                 for f in range(fold)]  # fmt: skip
        if any(b is None for b in folds):
            return None
        return float(np.mean([*folds, current]))


_PER = ("stage", "fold", "trial")
_REFERENCE = ("complete", "reached")
_BEST = ("max", "incumbent")


def _per_fold(value: float | tuple[float, ...]) -> tuple[float, ...]:
    return (float(value),) if isinstance(value, int | float) else tuple(map(float, value))


def _best_between(values: dict[int, float], first: int, last: int) -> float | None:
    found = [v for s, v in values.items() if first <= s <= last and v == v]
    return max(found) if found else None
