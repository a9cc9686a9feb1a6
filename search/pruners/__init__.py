"""Pruning: the degeneracy rules that need no other trials, comparisons against other trials, and the
:class:`Judge` that applies a strategy to one trial, live in a worker or replayed."""

from search._lazy import lazy_exports

_EXPORTS = {
    "CompletedTrials": "search.pruners._same_step",
    "DEFAULT_PRUNER": "search.pruners._names",
    "DegeneracyRules": "search.pruners._rules",
    "FOLD_RACERS": "search.pruners._judge",
    "Judge": "search.pruners._judge",
    "PRUNERS": "search.pruners._names",
    "PRUNER_HELP": "search.pruners._names",
    "REPLAYABLE": "search.pruners._names",
    "RuleWatch": "search.pruners._rules",
    "SameStepPruner": "search.pruners._same_step",
    "StageStopper": "search.pruners._judge",
    "Verdict": "search.pruners._rules",
    "WITH_RULES": "search.pruners._names",
    "forgiving_race": "search.pruners._race",
    "incumbent_folds": "search.pruners._race",
    "make_pruner": "search.pruners._strategies",
    "prune_reason": "search.pruners._rules",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
