"""A content-addressed store of pre-trained image branches: pre-train once, reuse in every trial that would repeat it.

Image pre-training (stage 0) reads few settings — its own learning rate, epochs and patience,
the image branch's architecture, the fold's rows — and its QWK says next to nothing about a trial's
final value. Trials that share those inputs pre-train identically, so the first one to need a
pre-training trains it and stores the branch weights with the stage's result and per-epoch reports;
every later trial, worker and study on the same data (and ``dfu-search train``) loads them.

The key is a digest of *everything* pre-training reads, so a hit can only be the stage the caller
would have trained:

- the data as pre-training sees it: a content digest of each image modality's preprocessed array,
  and the fold's training and validation visits, their labels and their image rows;
- every :class:`~trainer.config.TrainConfig` field in :data:`PRETRAIN_FIELDS` (a test fails when a
  field is added to neither :data:`PRETRAIN_FIELDS` nor :data:`OTHER_FIELDS`), the fold and seed, *as this
  process resolves them*: the data's modalities (a study's ``modalities = []`` and ``train``'s resolved list
  are one setting), ``precision = "mixed"`` as the dtype policy it means here, ``deterministic`` and
  ``jit_compile`` as booleans, and the kind of device (one cache folder may serve CPU and GPU hosts);
- what the ``on_epoch`` hook may do to the stage (the degeneracy rules that can end it early);
- the code that trains: a digest of the ``trainer`` package's source (:func:`trainer_source_digest`), the
  Keras backend and the library versions, and :data:`STORE_VERSION` (the entry's format).

An entry holds each epoch's report *relative to its stage*: the loading run places the reports at its own
global steps (its later stages may be longer or shorter, which the key rightly ignores) with its own fold's
metadata baseline. An entry that cannot be loaded into the model (other variables, a damaged file) is a
miss: trained again and replaced, with one warning.

Exactness: each stage seeds every generator at its start (``trainer.stages._fold.stage_seed``), so
skipping pre-training changes no random stream after it, and a hit restores every variable of the
branches, BatchNorm statistics and random-layer states included. A hit gives the fold result of a miss.

An entry appears atomically (built in a private folder, renamed into place, under a lock): a second
worker that needs the same key waits for the first and then loads its entry; a first that dies
mid-training releases the lock with its process, leaving nothing behind. A full disk or an unwritable
store is a warning and a normal, uncached pre-training, never a failed trial.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from trainer._files import atomic_directory, file_sha256, held_lock, lock_file
from trainer.config import TrainConfig

log = logging.getLogger(__name__)

#: Bump when what an entry holds changes (its files, their format): old entries are then never hit. A change to
#: how pre-training runs needs no bump: the trainer's source digest is in the key.
STORE_VERSION = 3
#: Settings pre-training reads: each is part of the key.
PRETRAIN_FIELDS = frozenset({
    "modalities", "seed", "backbone", "weights", "image_size", "cnn_width", "cnn_blocks", "head_units", "dropout",
    "bn_momentum", "gamma", "pretrain_alpha", "batch_size", "lr_pretrain", "epochs_pretrain", "patience_pretrain",
    "lr_reduce_factor", "lr_reduce_patience", "precision", "jit_compile", "deterministic",
    "augment", "aug_flip", "aug_rotation", "aug_zoom", "aug_translation", "aug_contrast",
})  # fmt: skip
#: Settings pre-training never reads: the fusion stages, the metadata branch, the fold count (the fold's
#: visits are in the key themselves), and the layout of later stages.
OTHER_FIELDS = frozenset({
    "folds", "alpha_cap", "lr_stage1", "lr_stage2", "epochs_stage1", "epochs_stage2", "patience_stage1",
    "patience_stage2", "unfreeze_fraction", "fusion", "fusion_init", "fusion_lr_scale", "rf_trees", "rf_max_depth", "rf_min_leaf",
    "rf_alpha_cap", "rf_oof_folds",
})  # fmt: skip
FOLDER = "pretrained"
_WEIGHTS, _STAGE, _META, _HITS = "weights.npz", "stage.json", "meta.json", "hits"


class _Unwritable(OSError):
    """Saving an entry failed (disk full, no permission): the trained stage stands, uncached."""


class UnusableEntry(Exception):
    """A stored entry that cannot be loaded into the model (``load`` raises it): trained again and replaced."""


def unclassified_fields() -> set[str]:
    """TrainConfig fields in neither :data:`PRETRAIN_FIELDS` nor :data:`OTHER_FIELDS` (must stay empty)."""
    return {f.name for f in fields(TrainConfig)} - PRETRAIN_FIELDS - OTHER_FIELDS


@dataclass(frozen=True)
class Entry:
    """One stored pre-training, as ``dfu-search cache list`` shows it."""

    key: str
    path: Path
    bytes: int
    created: float
    last_used: float
    hits: int
    describe: str  # backbone, image size, lr_pretrain, fold


class PretrainStore:
    """The entries under ``root`` (``CACHE_DIR/pretrained``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def key(self, config: TrainConfig, fold: int, data_digest: str, stage_rules: dict | None, resolved: dict) -> str:
        """The digest of everything pre-training reads (see the module docstring). ``resolved``: the settings as
        this process resolved them (``modalities``, ``precision``, ``deterministic``, ``jit_compile``) and the
        ``device`` kind; they replace the settings as written."""
        import keras

        settings = {name: getattr(config, name) for name in sorted(PRETRAIN_FIELDS)}
        unknown = set(resolved) - PRETRAIN_FIELDS - {"device"}
        if unknown:
            raise ValueError(f"resolved settings {sorted(unknown)} are not pre-training settings")
        settings.update(resolved)
        if config.weights not in ("none", "imagenet"):  # a weights file: its content, not its name
            settings["weights"] = file_sha256(Path(config.weights))
        document = {
            "version": STORE_VERSION, "trainer": trainer_source_digest(), "keras": keras.__version__,
            "backend": _backend_version(), "fold": fold, "data": data_digest, "settings": settings,
            "stage_rules": stage_rules,
        }  # fmt: skip
        return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()[:32]

    def train_or_load(
        self,
        key: str,
        train: Callable[[], object],
        save: Callable[[Path, object], None],
        load: Callable[[Path], object],
        describe: str,
    ) -> tuple[object, bool]:
        """``load(entry)`` of a stored key; else ``train()``, stored by ``save(folder, result)`` under the key's
        lock. Returns (result, whether it was loaded). A store that cannot be written trains without it."""
        target = self.root / key
        if (target / _META).is_file():
            try:
                return self._hit(target, load), True
            except UnusableEntry as exc:
                self._discard_unusable(target, load, exc)
        trained: list = []
        attempted = False

        def build(folder: Path) -> None:
            nonlocal attempted
            attempted = True
            trained.append(train())
            try:
                save(folder, trained[0])
                meta = {"key": key, "created": time.time(), "describe": describe}
                (folder / _META).write_text(json.dumps(meta))
            except OSError as exc:
                raise _Unwritable(str(exc)) from exc

        try:
            with atomic_directory(target, build):
                pass
        except (_Unwritable, OSError) as exc:  # a full disk, a read-only store: trained (or train) without it
            if not trained and attempted:
                raise  # training itself failed: not the store's business
            log.warning("pre-training store %s not usable (%s); training without it", self.root, exc)
            return (trained[0] if trained else train()), False
        if trained:
            return trained[0], False
        return self._hit(target, load), True  # another process stored it while this one waited

    def _discard_unusable(self, target: Path, load: Callable[[Path], object], problem: Exception) -> None:
        """Remove an entry that failed to load, under its lock: a process that replaced it meanwhile holds the lock
        while it builds, and an entry that loads now is a good one (left in place for the caller to load)."""
        with held_lock(target):
            if (target / _META).is_file():
                try:
                    load(target)
                    return
                except UnusableEntry:
                    pass
            log.warning("pre-training store: entry %s unusable (%s); training it again", target.name[:12], problem)
            shutil.rmtree(target, ignore_errors=True)

    def _hit(self, target: Path, load: Callable[[Path], object]) -> object:
        started = time.perf_counter()
        result = load(target)
        try:
            with open(target / _HITS, "a") as hits:  # one line a hit: appends of a line are atomic
                hits.write(f"{time.time():.0f}\n")
        except OSError:
            pass
        log.info("pre-training loaded from the store (%s) in %.2f s", target.name[:12], time.perf_counter() - started)
        return result

    def entries(self) -> list[Entry]:
        found = []
        for folder in sorted(self.root.glob("*")):
            meta_path = folder / _META
            if not folder.is_dir() or folder.name.startswith(".") or not meta_path.is_file():
                continue
            meta = json.loads(meta_path.read_text())
            hits = (folder / _HITS).read_text().split() if (folder / _HITS).is_file() else []
            size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
            last = float(hits[-1]) if hits else meta["created"]
            found.append(Entry(folder.name, folder, size, meta["created"], last, len(hits), meta["describe"]))
        return found

    def clear(self, older_than_days: float | None = None) -> tuple[int, int]:
        """Remove entries (those not used for ``older_than_days``, if given); returns (entries, bytes) freed."""
        cutoff = None if older_than_days is None else time.time() - older_than_days * 86400
        removed = freed = 0
        for entry in self.entries():
            if cutoff is None or entry.last_used < cutoff:
                shutil.rmtree(entry.path, ignore_errors=True)
                lock_file(entry.path).unlink(missing_ok=True)
                removed, freed = removed + 1, freed + entry.bytes
        return removed, freed


def data_digest(dataset, images: dict[str, np.ndarray], train_visits: np.ndarray, val_visits: np.ndarray) -> str:
    """What pre-training reads of the data for one fold: the images' content, the fold's visits, their labels
    and image rows. The image digests are computed once per array per process (hashing ~100 MB takes ~0.1 s)."""
    digest = hashlib.sha256()
    for modality in sorted(images):
        digest.update(f"{modality}:{_array_digest(images[modality])}".encode())
    labels = dataset.metadata.labels
    for visits in (train_visits, val_visits):
        visits = np.asarray(visits, dtype=np.int64)
        digest.update(visits.tobytes())
        digest.update(np.asarray(labels[visits], dtype=np.int64).tobytes())
    digest.update(np.asarray(dataset.image_rows["visit"].to_numpy(), dtype=np.int64).tobytes())
    return digest.hexdigest()


_ARRAY_DIGESTS: dict[int, tuple[object, str]] = {}


def _array_digest(array: np.ndarray) -> str:
    known = _ARRAY_DIGESTS.get(id(array))
    if known is not None and known[0] is array:
        return known[1]
    digest = hashlib.sha256(np.ascontiguousarray(array).data).hexdigest()
    _ARRAY_DIGESTS[id(array)] = (array, digest)  # a worker keeps its arrays across trials: they stay alive anyway
    return digest


@functools.cache
def trainer_source_digest() -> str:
    """A digest of every Python file of the ``trainer`` package (names and contents): a change to how pre-training
    runs changes the store's keys, so old entries are missed instead of loaded. Broader than pre-training needs
    (a change to the fusion stages misses too), never narrower."""
    import trainer

    return source_digest(Path(trainer.__file__).parent)


def source_digest(package: Path) -> str:
    """The digest of the ``*.py`` files under ``package``: their paths relative to it and their bytes."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        digest.update(f"{path.relative_to(package).as_posix()}\0{path.stat().st_size}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _backend_version() -> str:
    import keras

    backend = keras.backend.backend()
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(backend)
    version = "?"
    if module is not None:
        try:
            version = __import__(module).__version__
        except ImportError:
            pass
    return f"{backend} {version} ({os.uname().machine})"
