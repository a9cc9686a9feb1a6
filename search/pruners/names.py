"""The pruning strategies by name: what ``launch --pruner`` and ``replay --strategies`` accept.

Names only (no Optuna), so the command line can list them in its help without loading anything.
"""

from __future__ import annotations

#: ``--pruner`` values and what each does (the degeneracy rules are separate: ``--no-rules``).
PRUNER_HELP = {
    "ours": "rules + same-step comparison + fold racing",
    "median": "stock Optuna MedianPruner",
    "hyperband": "stock Optuna HyperbandPruner",
    "wilcoxon": "stock WilcoxonPruner, folds as instances",
    "forgiving": "fold racing only",
    "none": "no pruning",
}
PRUNERS = tuple(PRUNER_HELP)
#: What ``launch`` uses when no ``--pruner`` is given.
DEFAULT_PRUNER = "ours"
#: What ``replay`` can replay: every strategy, and the degeneracy rules alone.
REPLAYABLE = (*PRUNERS, "rules")
