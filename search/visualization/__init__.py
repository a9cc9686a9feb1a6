"""Figures of a study and its trials: each trial's diagnostics (learning curves, confusion matrix) kept as
Optuna artifacts, and ``dfu-search report``'s HTML page of Optuna's plots."""

from search._lazy import lazy_exports

_EXPORTS = {
    "artifact_dir_to_keep": "search.visualization._artifacts",
    "artifact_names": "search.visualization._artifacts",
    "dashboard_artifact_dir": "search.visualization._artifacts",
    "default_artifact_dir": "search.visualization._artifacts",
    "open_artifact_store": "search.visualization._artifacts",
    "resolve_artifact_dir": "search.visualization._artifacts",
    "upload_diagnostics": "search.visualization._artifacts",
    "write_report": "search.visualization._report",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
