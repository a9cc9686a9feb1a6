"""The pruning strategies by name: what ``launch --pruner`` and ``replay --strategies`` accept.

Names only (no Optuna), so the command line can list them in its help without loading anything.
"""

from __future__ import annotations

#: ``--pruner`` values and what each does (the degeneracy rules are separate: ``--no-rules``).
PRUNER_HELP = {
    "near-best": "rules + the trial's mean fold QWK so far: stopped 0.02 below the best completed trial's at the same "
    "epoch, or below the 33rd percentile of every trial that reached it",
    "running-mean": "rules + the trial's mean fold QWK so far against the completed trials' at the same epoch",
    "ours": "v1 default: rules + same-step comparison per stage + fold racing",
    "median": "stock Optuna MedianPruner",
    "hyperband": "stock Optuna HyperbandPruner",
    "wilcoxon": "stock WilcoxonPruner, folds as instances",
    "forgiving": "fold racing only",
    "none": "no pruning",
}
PRUNERS = tuple(PRUNER_HELP)
#: What ``launch`` uses when no ``--pruner`` is given.
DEFAULT_PRUNER = "near-best"
#: The strategies that bring the degeneracy rules with them when a ``--no-rules`` recording is replayed
#: (stock pruners are replayed as a user of plain Optuna runs them: without).
WITH_RULES = ("near-best", "running-mean", "ours", "rules")
#: What ``replay`` can replay: every strategy, and the degeneracy rules alone.
REPLAYABLE = (*PRUNERS, "rules")
