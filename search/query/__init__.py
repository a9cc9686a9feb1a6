"""Read-only questions about a study, for notebooks and scripts (``from search import open_study``)."""

from search._lazy import lazy_exports

_EXPORTS = {
    "MIN_TRIALS": "search.query.selection",
    "SelectionEstimate": "search.query.selection",
    "StudyView": "search.query.view",
    "max_epochs": "search.query.view",
    "open_study": "search.query.view",
    "selection_estimate": "search.query.selection",
    "worker_label": "search.query.view",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
