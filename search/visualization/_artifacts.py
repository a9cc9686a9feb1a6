"""Where trial diagnostics live, and uploading them as Optuna artifacts the dashboard shows.

Each finished trial (complete, pruned or failed) gets ``learning-curve.png``, ``confusion.png``
(validation visits of the folds it finished) and ``result.json``. The artifact store is a folder:
beside the SQLite or journal file by default (``dfu-search.db`` → ``dfu-search-artifacts/``); for a
database server, ``--artifacts`` or ``$DFU_SEARCH_ARTIFACTS`` names a folder every worker and the
dashboard can reach (a shared file system). The launcher stores the folder in the study's settings,
so workers that join by name find it.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

import optuna
from optuna.artifacts import FileSystemArtifactStore, get_all_artifact_meta, upload_artifact

from search.study import SETTINGS_ATTR
from storage import StorageError, file_path, kind

log = logging.getLogger(__name__)

ENV_VAR = "DFU_SEARCH_ARTIFACTS"
_SERVER_DEFAULT = "dfu-search-artifacts"  # relative to the launcher's working directory


def default_artifact_dir(storage_url: str) -> Path:
    """A folder beside a SQLite or journal file; ``./dfu-search-artifacts`` for a database server."""
    path = file_path(storage_url)
    if path is None:
        return Path(_SERVER_DEFAULT).resolve()
    return path.with_name(f"{path.stem}-artifacts")


def resolve_artifact_dir(storage_url: str, explicit: str | Path | None = None, from_study: str | None = None) -> Path:
    """The artifact folder in force: ``--artifacts``, else the environment, else the study's, else the default."""
    chosen = explicit or os.environ.get(ENV_VAR) or from_study
    return Path(chosen).expanduser().resolve() if chosen else default_artifact_dir(storage_url)


def artifact_dir_to_keep(storage_url: str, explicit: Path | None) -> Path | None:
    """The folder ``launch`` stores in the study's settings: a chosen one, or the default for a database
    server; None beside a SQLite or journal file, so the default follows the file wherever it is mounted."""
    if explicit or os.environ.get(ENV_VAR) or kind(storage_url) in ("postgresql", "grpc"):
        return resolve_artifact_dir(storage_url, explicit)
    return None


def open_artifact_store(folder: Path, for_writing: bool = True) -> FileSystemArtifactStore:
    """A file-system artifact store. Workers write (a one-line error if they cannot); the dashboard only
    reads, so a read-only mount is fine there and a missing folder just means no artifacts yet."""
    if not for_writing:
        return FileSystemArtifactStore(folder)  # nothing created: a missing folder only means no artifacts yet
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"artifact folder {folder}: {exc.strerror or exc} (set --artifacts or ${ENV_VAR})") from None
    if not os.access(folder, os.W_OK):
        raise StorageError(f"artifact folder {folder} is not writable (set --artifacts or ${ENV_VAR})")
    return FileSystemArtifactStore(folder)


def upload_diagnostics(
    store: FileSystemArtifactStore,
    trial: optuna.Trial,
    result: dict,
    curve: list[list],
    folds: list[dict],
    title: str,
) -> list[str]:
    """Draw and upload the trial's learning curves, confusion matrix and ``result.json``; returns artifact ids.

    A failure here is logged, not raised: a trial's value must not depend on a plot.
    """
    from search.visualization._plots import confusion_figure, learning_curve_figure, save_png

    ids = []
    try:
        with tempfile.TemporaryDirectory(prefix="dfu-artifacts-") as tmp:
            files = {Path(tmp) / "learning-curve.png": learning_curve_figure(curve, folds, title)}
            if folds:
                files[Path(tmp) / "confusion.png"] = confusion_figure(folds, title)
            for path, figure in files.items():
                save_png(figure, path)
            result_path = Path(tmp) / "result.json"
            result_path.write_text(json.dumps(result, indent=2, default=str) + "\n")
            for path in [*files, result_path]:
                ids.append(upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=trial))
    except Exception as exc:  # noqa: BLE001 (diagnostics are best effort)
        log.warning("trial %d: could not upload diagnostics: %r", trial.number, exc)
    return ids


def artifact_names(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> list[str]:
    """File names of a trial's artifacts (for listings and tests)."""
    return [meta.filename for meta in get_all_artifact_meta(trial, storage=study._storage)]


def dashboard_artifact_dir(storage_url: str, storage: optuna.storages.BaseStorage, explicit: Path | None) -> Path:
    """The folder the dashboard reads: ``--artifacts``, the environment, the folder the studies were
    launched with (when they agree), else the default beside the storage."""
    if explicit or os.environ.get(ENV_VAR):
        return resolve_artifact_dir(storage_url, explicit)
    chosen = set()
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        settings = summary.user_attrs.get(SETTINGS_ATTR) or {}
        if settings.get("artifacts"):
            chosen.add(settings["artifacts"])
    if len(chosen) > 1:
        log.warning("studies here keep artifacts in different folders %s; showing %s", sorted(chosen), min(chosen))
    return Path(min(chosen)) if chosen else default_artifact_dir(storage_url)
