"""When to stop a trial, or a stage: degeneracy rules that need no other trials.

The rules read the trial's own epoch reports, one stage of one fold at a time:

- ``nan_loss``: the training loss is not finite.
- ``collapsed``: after the warm-up, at least ``collapse_share`` of the validation visits have been
  predicted as one class for ``collapse_epochs`` epochs in a row.
- ``kappa_nonpositive``: after the warm-up, validation kappa ≤ 0 for ``kappa_epochs`` epochs in a row.
- ``stalled``: no epoch has beaten epoch 1's validation QWK (early stopping is heading for an epoch-1
  restore) *and* the stage is poor — a fusion stage at or below the fold's metadata-only QWK, image
  pre-training at or below ``poor_pretrain_qwk`` — or it has outlived its patience. A flat stage
  that is good is left to early stopping: it keeps its weights and the trial goes on.
- ``images_add_nothing``: nothing learns — the pre-training ended predicting one class, and by stage 1's second
  epoch training has not moved the fused model's weights (relative change ≤ ``still_weights``; for reports
  without it, its predictions have not moved), while it is no better than the RF alone (docs/pruning.md).

The warm-up is ``warmup_epochs`` epochs and at least ``warmup_steps`` optimizer steps (on small data a
healthy model still predicts the majority class for a few dozen steps), but never so long that
early stopping (the stage's patience) would end a degenerate stage before a rule can see it.

What a rule stops (:attr:`Verdict.stage_only`): in stage 1 — the fused model — ``images_add_nothing`` and
``nan_loss`` end the trial, and ``collapsed`` and ``kappa_nonpositive`` do in the first fold. Everywhere else a
rule ends only the *stage*, as an early stop: a degenerate image pre-training is common in trials that the
RandomForest carries to the best QWK (measured on the recorded curves, README "Pruning, replayed"), a failed
stage 2 is simply not kept, and a later fold's stage 1 that collapses after the first fold trained a healthy
fused model is that fold's mishap, which fine-tuning can mend (data seed 6: a trial whose fold 2 stage 1
predicted nearly one class at kappa ≤ 0, final 0.443 above the median 0.428); the comparison with other trials
judges the trial from there. ``images_add_nothing`` is the whole failure — nothing learns, in pre-training or
fusion — in whichever fold it shows (a fold where the fixed RF weight carries the fusion hides it, the next one
may not). ``stalled`` always ends just the stage.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from trainer.model import COLLAPSE_SHARE, MIN_IMPROVEMENT, top_class_share
from trainer.stages import EpochReport


@dataclass(frozen=True)
class Verdict:
    rule: str
    stage_only: bool = False  # end this stage (as early stopping would; stage 2: keep stage 1), not the trial
    detail: dict | None = None  # what the pruner compared, where it says (SameStepPruner.last_decision)


@dataclass(frozen=True)
class DegeneracyRules:
    warmup_epochs: int = 1
    warmup_steps: int = 40
    collapse_share: float = COLLAPSE_SHARE
    collapse_epochs: int = 2
    kappa_epochs: int = 2
    stall_epochs: int = 3
    poor_pretrain_qwk: float = 0.05
    stall_stages: tuple[str, ...] = ("pretrain", "stage1")
    # Where a broken stage condemns the trial: the fused model of stage 1. Elsewhere a rule ends only the
    # stage — a useless image pre-training is common in trials that the RF carries to the best QWK, and
    # the trainer keeps stage 1 when stage 2 fails — and `stalled` is an early stop everywhere.
    trial_stages: tuple[str, ...] = ("stage1",)
    #: ... but ``collapsed`` and ``kappa_nonpositive`` only in the first ``trial_folds`` folds: once a fold has trained
    #: a healthy fused model the configuration can learn, and a later fold's collapse ends that stage (fine-tuning
    #: may mend it). The rules in ``every_fold`` end the trial in any fold.
    trial_folds: int = 1
    every_fold: tuple[str, ...] = ("images_add_nothing", "nan_loss")
    #: ``images_add_nothing``: judged at stage 1's epoch ``nothing_epochs``, after a pre-training that learned
    #: nothing: stage 1 is not learning (below) and is within ``nothing_margin`` of the fold's metadata-only QWK or
    #: below it. For reports without ``weight_change``, "not learning" is predictions unchanged since stage 1's first
    #: epoch (``still_share`` of the visits, ``still_qwk``) ...
    nothing_epochs: int = 2
    nothing_margin: float = 0.02
    # At LR 1e-6 a fused stage 1 still flips a few near-tie visits an epoch (make demo: 3 of 96, QWK +0.021): "still"
    # allows that; a learning stage 1 moves several times more (the v2 tables: no trial ended at 5 % / 0.05 either).
    still_share: float = 0.04
    still_qwk: float = 0.03
    #: ... judged, where reports carry it, by how far training moved the fused model's weights instead: at most
    #: ``still_weights`` relative change (:attr:`EpochReport.weight_change`) by that epoch. Adam moves the weights
    #: ≈ 1.5–1.9 × LR × steps: on make demo's settings 1.6e-4 by epoch 2 at LR 1e-6, 1.6e-3 at 1e-5, 1.4e-2 at 1e-4
    #: (docs/pruning.md).
    still_weights: float = 1e-3
    #: A pre-training epoch "predicts one class" at ``collapse_share`` of the visits and a kappa at chance level: a
    #: few off-class guesses that happen to be right lift kappa a hair above 0 (live, data seed 0: 295 of 298
    #: visits one class, kappa 0.0096), which is not learning.
    one_class_kappa: float = 0.05
    enabled: bool = True

    def warmup(self, report: EpochReport) -> int:
        """Epochs of warm-up for this stage: enough optimizer steps, but leaving room before early stopping."""
        warmup = self.warmup_epochs
        if report.train_batches > 0:
            warmup = max(warmup, math.ceil(self.warmup_steps / report.train_batches))
        if report.patience > 0:  # a stage flat from epoch 1 stops after epoch 1 + patience
            warmup = min(warmup, max(1, report.patience + 1 - max(self.collapse_epochs, self.kappa_epochs)))
        return warmup

    def check(self, history: list[EpochReport], pretrain: list[EpochReport] | None = None) -> Verdict | None:
        """The first rule the latest epoch breaks, or None. ``history``: this stage's epochs so far;
        ``pretrain``: the same fold's image pre-training, for a fusion stage."""
        rule = self._rule(history) or self._images_add_nothing(history, pretrain or [])
        if rule is None:
            return None
        latest = history[-1]
        in_fold = latest.fold < self.trial_folds or rule in self.every_fold
        ends_trial = rule != "stalled" and latest.stage in self.trial_stages and in_fold
        return Verdict(rule, stage_only=not ends_trial)

    def _rule(self, history: list[EpochReport]) -> str | None:
        if not self.enabled or not history:
            return None
        latest = history[-1]
        if not math.isfinite(latest.train_loss):
            return "nan_loss"
        warmup = self.warmup(latest)
        after_warmup = [r for r in history if r.epoch > warmup]
        if _tail_all(
            after_warmup, self.collapse_epochs, lambda r: top_class_share(r.pred_histogram) >= self.collapse_share
        ):
            return "collapsed"
        if _tail_all(after_warmup, self.kappa_epochs, lambda r: r.val_kappa <= 0):
            return "kappa_nonpositive"
        if latest.stage in self.stall_stages and len(history) >= max(self.stall_epochs, warmup + 2):
            flat = all(r.val_qwk <= history[0].val_qwk + MIN_IMPROVEMENT for r in history[1:])
            outlived = latest.patience > 0 and len(history) > latest.patience
            if flat and (outlived or self._poor(history)):
                return "stalled"
        return None

    def _images_add_nothing(self, history: list[EpochReport], pretrain: list[EpochReport]) -> str | None:
        """The research's failure, whole: nothing learns. The pre-training ended predicting one class at a
        chance-level kappa (≤ ``one_class_kappa``; in its last ``collapse_epochs`` epochs, or in all of them),
        and the fused stage 1 neither changes its predictions over its first ``nothing_epochs`` epochs nor rises
        above the fold's metadata-only QWK (within ``nothing_margin``). The images then add nothing and the trial can at best
        match the RandomForest alone, which the study already knows. A healthy trial that merely starts flat
        has a pre-training that ended learning something, or a stage 1 whose predictions move (it is
        learning), or one already above the RF alone."""
        if not self.enabled or not pretrain or len(history) != self.nothing_epochs or history[-1].stage != "stage1":
            return None  # judged once, early; after that the other rules and early stopping take over
        baseline = history[-1].baseline_qwk
        no_better = math.isfinite(baseline) and all(r.val_qwk <= baseline + self.nothing_margin for r in history)
        return "images_add_nothing" if self.learned_nothing(pretrain) and no_better and self.still(history) else None

    def learned_nothing(self, pretrain: list[EpochReport]) -> bool:
        """The pre-training ended predicting one class at a chance-level kappa (≤ ``one_class_kappa``, at least
        ``collapse_share`` of the visits one class): in its last ``collapse_epochs`` epochs, or in all of them."""

        def one_class(r: EpochReport) -> bool:
            return r.val_kappa <= self.one_class_kappa and top_class_share(r.pred_histogram) >= self.collapse_share

        return all(one_class(r) for r in pretrain) or _tail_all(pretrain, self.collapse_epochs, one_class)

    def still(self, history: list[EpochReport]) -> bool:
        """The fused model is not learning. Judged by its weights where the trainer reports how far training moved
        them (at most ``still_weights``), since its predictions mislead both ways: at LR 1e-6 BatchNorm's statistics
        alone move them, and a fold can learn (weights 4 % moved) while its predictions barely move yet. Judged by
        the predictions (unmoved since stage 1's first epoch) only for reports without ``weight_change`` (curves
        recorded before 2026-12-07)."""
        change = history[-1].weight_change
        if math.isfinite(change):
            return change <= self.still_weights
        first = history[0]
        visits = max(1, sum(first.pred_histogram))
        for r in history[1:]:
            moved = sum(abs(a - b) for a, b in zip(r.pred_histogram, first.pred_histogram)) / 2
            if moved > self.still_share * visits or abs(r.val_qwk - first.val_qwk) > self.still_qwk:
                return False
        return True

    def _poor(self, history: list[EpochReport]) -> bool:
        best = max(r.val_qwk for r in history)
        if history[-1].stage == "pretrain":
            return best <= self.poor_pretrain_qwk
        baseline = history[-1].baseline_qwk
        return math.isfinite(baseline) and best <= baseline + MIN_IMPROVEMENT

    def as_dict(self) -> dict:
        return {**asdict(self), **{key: list(getattr(self, key)) for key in _TUPLES}}

    @classmethod
    def from_dict(cls, data: dict) -> DegeneracyRules:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in _TUPLES:
            if key in known:
                known[key] = tuple(known[key])
        return cls(**known)


#: The fields of :class:`DegeneracyRules` that are tuples (lists in a study's JSON attributes).
_TUPLES = ("stall_stages", "trial_stages", "every_fold")


class RuleWatch:
    """The rules applied as a run goes: each epoch joins its (fold, stage) history, which the rules judge."""

    def __init__(self, rules: DegeneracyRules) -> None:
        self.rules = rules
        self._history: dict[tuple[int, str], list[EpochReport]] = {}

    def __call__(self, report: EpochReport) -> Verdict | None:
        history = self._history.setdefault((report.fold, report.stage), [])
        history.append(report)
        return self.rules.check(history, self._history.get((report.fold, "pretrain")))


def prune_reason(rule: str, report: EpochReport, detail: dict | None = None) -> dict:
    """What a pruned trial stores as its ``prune_reason`` user attribute (``detail``: the pruner's own account,
    e.g. which of ``near-best``'s two tests fired and the bar)."""
    return {
        "rule": rule,
        "fold": report.fold,
        "stage": report.stage,
        "epoch": report.epoch,
        "step": report.step,
        "histogram": list(report.pred_histogram),
        "val_qwk": report.val_qwk,
        **(detail or {}),
    }


def _tail_all(reports: list[EpochReport], n: int, predicate) -> bool:
    return len(reports) >= n and all(predicate(r) for r in reports[-n:])
