"""When to stop a trial: degeneracy rules that need no other trials, then a statistical pruner.

The rules read the trial's own epoch reports, one stage at a time:

- ``nan_loss``: the training loss is not finite.
- ``collapsed``: after the warm-up, at least ``collapse_share`` of the validation visits have been
  predicted as one class for ``collapse_epochs`` epochs in a row.
- ``kappa_nonpositive``: after the warm-up, validation kappa ≤ 0 for ``kappa_epochs`` epochs in a row.

The warm-up is ``warmup_epochs`` epochs of the stage and at least ``warmup_steps`` optimizer steps:
on small data an epoch is a dozen steps, and a healthy model still predicts the majority class then.
- ``stalled``: after ``stall_epochs`` epochs (and the warm-up) no epoch has beaten epoch 1's
  validation QWK, so early stopping is heading for an epoch-1 restore (checked in
  ``stall_stages``; stage 2 is left out because it is simply not kept when it does not improve).

With the defaults the ``degenerate`` preset (one class from epoch 1) is pruned at its 3rd epoch.
Then the statistical pruner compares the trial with other trials at the same global step.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import optuna

from trainer.metrics import COLLAPSE_SHARE, MIN_IMPROVEMENT, top_class_share
from trainer.reports import EpochReport

PRUNERS = ("median", "hyperband", "wilcoxon", "none")


@dataclass(frozen=True)
class DegeneracyRules:
    warmup_epochs: int = 1
    warmup_steps: int = 40
    collapse_share: float = COLLAPSE_SHARE
    collapse_epochs: int = 2
    kappa_epochs: int = 2
    stall_epochs: int = 3
    stall_stages: tuple[str, ...] = ("pretrain", "stage1")
    enabled: bool = True

    def check(self, history: list[EpochReport]) -> str | None:
        """The name of the first rule the latest epoch breaks, or None. ``history``: this stage's epochs so far."""
        if not self.enabled or not history:
            return None
        latest = history[-1]
        if not math.isfinite(latest.train_loss):
            return "nan_loss"
        warmup = self.warmup_epochs
        if latest.train_batches > 0:
            warmup = max(warmup, math.ceil(self.warmup_steps / latest.train_batches))
        after_warmup = [r for r in history if r.epoch > warmup]
        if _tail_all(
            after_warmup, self.collapse_epochs, lambda r: top_class_share(r.pred_histogram) >= self.collapse_share
        ):
            return "collapsed"
        if _tail_all(after_warmup, self.kappa_epochs, lambda r: r.val_kappa <= 0):
            return "kappa_nonpositive"
        # Judged once, after the warm-up: a stage whose later epochs never beat epoch 1 is heading for an
        # epoch-1 restore, the failure's signature; one that improved once is left to early stopping.
        if latest.stage in self.stall_stages and len(history) == max(self.stall_epochs, warmup + 2):
            if all(r.val_qwk <= history[0].val_qwk + MIN_IMPROVEMENT for r in history[1:]):
                return "stalled"
        return None

    def as_dict(self) -> dict:
        return {**asdict(self), "stall_stages": list(self.stall_stages)}

    @classmethod
    def from_dict(cls, data: dict) -> DegeneracyRules:
        return cls(**{**data, "stall_stages": tuple(data.get("stall_stages", cls.stall_stages))})


def make_pruner(name: str, warmup_steps: int = 2) -> optuna.pruners.BasePruner:
    """The statistical pruner of ``--pruner``; compares trials at the same global step."""
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=warmup_steps)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=max(1, warmup_steps), reduction_factor=3)
    if name == "wilcoxon":
        return optuna.pruners.WilcoxonPruner(p_threshold=0.1, n_startup_steps=warmup_steps)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"--pruner must be one of {', '.join(PRUNERS)}, got {name!r}")


def prune_reason(rule: str, report: EpochReport) -> dict:
    """What a pruned trial stores as its ``prune_reason`` user attribute."""
    return {
        "rule": rule,
        "fold": report.fold,
        "stage": report.stage,
        "epoch": report.epoch,
        "step": report.step,
        "histogram": list(report.pred_histogram),
        "val_qwk": report.val_qwk,
    }


def _tail_all(reports: list[EpochReport], n: int, predicate) -> bool:
    return len(reports) >= n and all(predicate(r) for r in reports[-n:])
