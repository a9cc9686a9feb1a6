"""Figures of a study and its trials: each trial's diagnostics (learning curves, confusion matrix) kept as
Optuna artifacts, and ``dfu-search report``'s HTML page of Optuna's plots."""

from search.visualization.artifacts import (
    artifact_dir_to_keep,
    artifact_names,
    dashboard_artifact_dir,
    default_artifact_dir,
    open_artifact_store,
    resolve_artifact_dir,
    upload_diagnostics,
)  # fmt: skip

__all__ = [
    "artifact_dir_to_keep", "artifact_names", "dashboard_artifact_dir", "default_artifact_dir",
    "open_artifact_store", "resolve_artifact_dir", "upload_diagnostics",
]  # fmt: skip
