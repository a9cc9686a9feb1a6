"""Figures of a study and its trials: each trial's diagnostics (learning curves, confusion matrix) kept as
Optuna artifacts, and ``dfu-search report``'s HTML page of Optuna's plots."""

from search._lazy import lazy_exports

_EXPORTS = {
    "artifact_dir_to_keep": "search.visualization.artifacts",
    "artifact_names": "search.visualization.artifacts",
    "dashboard_artifact_dir": "search.visualization.artifacts",
    "default_artifact_dir": "search.visualization.artifacts",
    "open_artifact_store": "search.visualization.artifacts",
    "resolve_artifact_dir": "search.visualization.artifacts",
    "upload_diagnostics": "search.visualization.artifacts",
    "write_report": "search.visualization.report",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
