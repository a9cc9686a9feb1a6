"""Read-only questions about a study, for notebooks and scripts (``from search import open_study``)."""

from search._lazy import lazy_exports

_EXPORTS = {
    "MIN_TRIALS": "search.query._selection",
    "SelectionEstimate": "search.query._selection",
    "StudyView": "search.query._view",
    "max_epochs": "search.query._view",
    "open_study": "search.query._view",
    "selection_estimate": "search.query._selection",
    "worker_label": "search.query._view",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
