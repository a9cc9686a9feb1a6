"""Pruning: the degeneracy rules that need no other trials, comparisons against other trials, and the
:class:`Judge` that applies a strategy to one trial, live in a worker or replayed."""

from search.pruners.judge import FOLD_RACERS, Judge, StageStopper
from search.pruners.race import forgiving_race, incumbent_folds
from search.pruners.rules import DegeneracyRules, RuleWatch, Verdict, prune_reason
from search.pruners.same_step import CompletedTrials, SameStepPruner
from search.pruners.strategies import PRUNERS, make_pruner

__all__ = [
    "FOLD_RACERS", "PRUNERS", "CompletedTrials", "DegeneracyRules", "Judge", "RuleWatch", "SameStepPruner",
    "StageStopper", "Verdict", "forgiving_race", "incumbent_folds", "make_pruner", "prune_reason",
]  # fmt: skip
