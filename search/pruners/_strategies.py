"""The pruning strategies ``launch --pruner`` names, and the Optuna pruner each one uses."""

from __future__ import annotations

import warnings

import optuna

from search.pruners._names import PRUNERS
from search.pruners._same_step import SameStepPruner

#: ``running-mean``: chosen on the v2 tables of data seeds 0-1 by the rule stated in bench/results/historical/README.md.
RUNNING_MEAN = {"stages": ("stage1", "stage2"), "min_epochs": 1, "per": "trial", "percentile": 33.0}
#: ``near-best`` (the default): chosen on data seeds 0-4 by the same rule, checked on seed 5 (docs/pruning.md).
NEAR_BEST = {**RUNNING_MEAN, "reference": "reached", "n_startup_trials": 8, "best_margin": 0.02}
#: Fold-race margin per strategy that races folds (search.pruners._judge); ``near-best`` and ``running-mean`` race none.
RACE_MARGINS = {"ours": 0.0, "forgiving": 0.0}


def make_pruner(name: str, layout=None) -> optuna.pruners.BasePruner:
    """The Optuna pruner of a strategy. Stock pruners are set as a user would set them; ``near-best``,
    ``running-mean`` and ``ours`` need the study's step layout (a :class:`~trainer.config.TrainConfig`) to know which steps are one stage of one fold."""
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=2)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    if name == "wilcoxon":  # fed one value per finished fold, step = fold (see search.pruners._judge)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.pruners.WilcoxonPruner()
    if name == "near-best":
        return SameStepPruner(layout, **NEAR_BEST)
    if name == "running-mean":
        return SameStepPruner(layout, **RUNNING_MEAN)
    if name == "ours":
        return SameStepPruner(layout)
    if name in ("forgiving", "none"):  # forgiving races folds in search.pruners._judge; no per-epoch pruner
        return optuna.pruners.NopPruner()
    raise ValueError(f"--pruner must be one of {', '.join(PRUNERS)}, got {name!r}")
