"""The pruning strategies ``launch --pruner`` names, and the Optuna pruner each one uses."""

from __future__ import annotations

import warnings

import optuna

from search.pruners.names import PRUNERS
from search.pruners.same_step import SameStepPruner


def make_pruner(name: str, layout=None) -> optuna.pruners.BasePruner:
    """The Optuna pruner of a strategy. Stock pruners are set as a user would set them; ``ours`` needs the
    study's step layout (a :class:`~trainer.config.TrainConfig`) to know which steps are one stage of one fold."""
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=2)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    if name == "wilcoxon":  # fed one value per finished fold, step = fold (see search.judge)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.pruners.WilcoxonPruner()
    if name == "ours":
        return SameStepPruner(layout)
    if name in ("forgiving", "none"):  # forgiving races folds in search.judge; no per-epoch pruner
        return optuna.pruners.NopPruner()
    raise ValueError(f"--pruner must be one of {', '.join(PRUNERS)}, got {name!r}")
