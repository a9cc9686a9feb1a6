"""Read-only questions about a study, for notebooks and scripts (``from search import open_study``)."""

from search.query.view import StudyView, max_epochs, open_study, worker_label

__all__ = ["StudyView", "max_epochs", "open_study", "worker_label"]
