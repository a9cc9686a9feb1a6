"""Pruning: the degeneracy rules that need no other trials, comparisons against other trials, and the
:class:`Judge` that applies a strategy to one trial, live in a worker or replayed."""

from search._lazy import lazy_exports

_EXPORTS = {
    "CompletedTrials": "search.pruners.same_step",
    "DEFAULT_PRUNER": "search.pruners.names",
    "DegeneracyRules": "search.pruners.rules",
    "FOLD_RACERS": "search.pruners.judge",
    "Judge": "search.pruners.judge",
    "PRUNERS": "search.pruners.names",
    "PRUNER_HELP": "search.pruners.names",
    "REPLAYABLE": "search.pruners.names",
    "RuleWatch": "search.pruners.rules",
    "SameStepPruner": "search.pruners.same_step",
    "StageStopper": "search.pruners.judge",
    "Verdict": "search.pruners.rules",
    "WITH_RULES": "search.pruners.names",
    "forgiving_race": "search.pruners.race",
    "incumbent_folds": "search.pruners.race",
    "make_pruner": "search.pruners.strategies",
    "prune_reason": "search.pruners.rules",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
