"""One training stage: Adam at the stage's LR, focal loss, and per-epoch validation on visits.

Early stopping, LR reduction and best-weight restoring all follow validation QWK (weighted F1
lets a one-class model look fine; its kappa is 0). After every epoch the stage calls the
``on_epoch`` hook with an :class:`EpochReport`; if the hook raises, training stops and the
exception propagates to the caller, which frees the model.

What a stage adds to a bare ``model.fit`` is kept small (``bench/throughput.py`` measures it): the
validation rows become backend tensors once per stage and go through the model's compiled predict
function (``predict_on_batch``, no data pipeline per epoch), and an improvement copies only the
variables training can change (frozen backbones are not copied).
"""

from __future__ import annotations

import json
import math
import time
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np
from keras import ops

from trainer.data import Dataset
from trainer.model import (
    COLLAPSE_SHARE,
    RF_INPUT,
    alpha_weights,
    focal_loss,
    improves,
    leaf_layers,
    ready_to_train,
    score_visits,
    top_class_share,
    visit_probabilities,
)
from trainer.stages._feeding import fit_arguments
from trainer.stages._reports import EpochReport, StopStage
from trainer.stages._store import UnusableEntry

_PREDICT_BATCH = 256


OnEpoch = Callable[[EpochReport], None]


@dataclass
class StageResult:
    name: str
    epochs_run: int = 0
    best_epoch: int = 0
    best_qwk: float = float("-inf")
    best_histogram: list[int] = field(default_factory=list)  # validation predictions I, P, R at the best epoch
    collapsed_epochs: int = 0  # epochs whose validation predictions were (almost) all one class
    kept: bool = True
    stopped_by: str | None = None  # why the hook ended this stage early (StopStage), if it did
    reports: list[EpochReport] = field(default_factory=list)  # every epoch's report, as the hook got it
    cached: bool = False  # loaded from the pre-training store, not trained in this run
    fusion_weight: list[float] | None = None  # a fusion stage's RF weight w at its start and as restored at its end

    def summary(self) -> dict:
        return {
            "epochs_run": self.epochs_run,
            "best_epoch": self.best_epoch,
            "best_qwk": self.best_qwk,
            "pred_histogram": self.best_histogram,
            "collapsed_epochs": self.collapsed_epochs,
            "kept": self.kept,
            "stopped_by": self.stopped_by,
            "cached": self.cached,
            "fusion_weight": self.fusion_weight,
        }


@dataclass(frozen=True)
class Split:
    """Model inputs of one side of a fold, one row per image row, plus how rows map to visits."""

    inputs: dict[str, np.ndarray]
    labels: np.ndarray  # per row
    row_visits: np.ndarray  # 0..n_visits-1
    visit_labels: np.ndarray

    @property
    def size(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class StagePlan:
    name: str
    lr: float
    epochs: int
    patience: int
    alpha: np.ndarray
    gamma: float
    batch_size: int
    lr_reduce_factor: float
    lr_reduce_patience: int
    fold: int
    first_step: int  # global step of this stage's epoch 1
    baseline_qwk: float = float("nan")  # the fold's metadata-only QWK, passed on in every report
    jit_compile: bool | str = "auto"  # XLA for the train and predict functions (Keras' "auto": on GPUs)


def run_stage(model: keras.Model, plan: StagePlan, train: Split, val: Split, on_epoch: OnEpoch | None) -> StageResult:
    """Train ``model`` for one stage and leave it at its best validation-QWK weights.

    The model is compiled on its first stage only (``trainer.model.ready_to_train``): a later stage,
    fold or trial that trains the same model object reuses its traced train step, with the optimizer reset.
    """
    inputs, targets = _inputs_for(model, train), keras.utils.to_categorical(train.labels, 3)
    # The focal loss's alpha is each row's weight, alpha[label]: data, not a constant traced into the step.
    weights = alpha_weights(plan.alpha, train.labels)
    batch_size = min(plan.batch_size, train.size)
    example = ({name: array[:batch_size] for name, array in inputs.items()}, targets[:batch_size], weights[:batch_size])
    ready_to_train(model, plan.lr, plan.gamma, plan.jit_compile, example)
    monitor = _StageMonitor(plan, val, on_epoch, batches_per_epoch=math.ceil(train.size / batch_size))
    # The batches Keras would make from these arrays, in one pipeline for the whole stage (trainer.stages._feeding);
    # steps per epoch come from this very data set, and a batch never exceeds it.
    model.fit(
        **fit_arguments(inputs, targets, weights, batch_size, plan.epochs),
        epochs=plan.epochs,
        verbose=0,
        callbacks=[monitor],
    )
    monitor.restore_best()
    return monitor.result


#: What an epoch's report says about the run that reads it, not the stage: its global step (the run's layout of
#: later stages places it), its fold's metadata baseline (the run's RF settings), and that it was loaded.
_RUN_FIELDS = ("step", "baseline_qwk", "cached")


def save_stage(folder: Path, model: keras.Model, result: StageResult) -> None:
    """Every variable of ``model`` (random-layer states and BatchNorm statistics included) and the stage's
    result with its reports relative to the stage, into ``folder``: what :func:`load_stage` restores exactly."""
    np.savez(folder / "weights.npz", *[np.asarray(ops.convert_to_numpy(v)) for v in model.variables])
    reports = [{k: v for k, v in asdict(r).items() if k not in _RUN_FIELDS} for r in result.reports]
    document = {**asdict(result), "reports": reports}
    (folder / "stage.json").write_text(json.dumps(document, default=float))


def load_stage(folder: Path, model: keras.Model, plan: StagePlan) -> StageResult:
    """Put a stored stage's variables into ``model`` (built the same way) and return its result, marked cached,
    its reports placed at ``plan``'s steps with ``plan``'s baseline. Raises :class:`UnusableEntry`, leaving the
    model as it was, when the entry does not fit the model or cannot be read."""
    try:
        with np.load(folder / "weights.npz") as stored:
            values = [stored[f"arr_{i}"] for i in range(len(stored.files))]
        document = json.loads((folder / "stage.json").read_text())
        reports = [
            EpochReport(**r, step=plan.first_step + r["epoch"] - 1, baseline_qwk=plan.baseline_qwk, cached=True)
            for r in document.pop("reports")
        ]
        result = StageResult(**{**document, "reports": reports, "cached": True})
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:  # JSON errors are ValueErrors
        raise UnusableEntry(f"{type(exc).__name__}: {exc}") from exc
    variables = model.variables
    if len(values) != len(variables):
        raise UnusableEntry(f"{len(values)} stored variables, the model has {len(variables)}")
    for variable, value in zip(variables, values, strict=True):
        if tuple(variable.shape) != value.shape:
            raise UnusableEntry(f"stored {variable.path} has shape {value.shape}, the model's {tuple(variable.shape)}")
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)
    return result


def replay_reports(result: StageResult, on_epoch: OnEpoch | None) -> None:
    """Report a stored stage's epochs again, at their steps, marked cached: the search sees the curve it would
    have seen and may prune on it. A hook that ends the stage (:class:`StopStage`) ended it where the reports do."""
    if on_epoch is None:
        return
    for report in result.reports:
        try:
            on_epoch(report)
        except StopStage:
            return


def predict_visits(model: keras.Model, split: Split) -> np.ndarray:
    """Per-visit probabilities: the mean over each visit's rows.

    ``predict_on_batch`` over the rows in order, ``_PREDICT_BATCH`` at a time: the batches ``predict`` would
    make, without the data pipeline and iterator ``predict`` builds for every call."""
    inputs = _inputs_for(model, split)
    row_probs = np.concatenate([
        np.asarray(model.predict_on_batch({name: array[start : start + _PREDICT_BATCH] for name, array in inputs.items()}))
        for start in range(0, split.size, _PREDICT_BATCH)
    ])  # fmt: skip
    return visit_probabilities(row_probs, split.row_visits, len(split.visit_labels))


def changeable_variables(model: keras.Model) -> list[keras.Variable]:
    """The variables training can change: every weight of a trainable layer, BatchNorm statistics included.

    A frozen layer's weights get no gradient and its BatchNorm runs in inference mode, so a frozen
    backbone (most of the weights in stage 1) needs no copy.
    """
    found: dict[int, keras.Variable] = {}
    for layer in leaf_layers(model):
        if layer.trainable:
            found.update((id(v), v) for v in layer.weights)
    return list(found.values())


def _inputs_for(model: keras.Model, split: Split) -> dict[str, np.ndarray]:
    """The arrays this model takes: the image-only model has no RF input."""
    return {name: split.inputs[name] for name in model.input}


class _StageMonitor(keras.callbacks.Callback):
    """Validation per visit, best-weight tracking, early stopping and LR reduction on QWK, and the hook."""

    def __init__(self, plan: StagePlan, val: Split, on_epoch: OnEpoch | None, batches_per_epoch: int) -> None:
        super().__init__()
        self.plan, self.val, self.on_epoch = plan, val, on_epoch
        self._val_targets = keras.utils.to_categorical(val.labels, 3)
        self._loss = focal_loss(plan.alpha, plan.gamma)  # the training loss, on the validation rows
        self.batches_per_epoch = batches_per_epoch
        self.result = StageResult(plan.name)
        self._changeable: list[keras.Variable] = []
        self._trained_at_start: list[np.ndarray] = []
        self._best_values: list[np.ndarray] | None = None
        self._val_batches: list[dict] = []
        self._since_best = 0
        self._epoch_started = time.perf_counter()

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._changeable = changeable_variables(self.model)
        self._trained_at_start = [v.numpy() for v in self.model.trainable_variables]
        inputs = _inputs_for(self.model, self.val)
        self._val_batches = [
            {name: ops.convert_to_tensor(array[start : start + _PREDICT_BATCH]) for name, array in inputs.items()}
            for start in range(0, self.val.size, _PREDICT_BATCH)
        ]

    def restore_best(self) -> None:
        """Put the best epoch's values back (no-op when no epoch ran)."""
        if self._best_values is not None:
            for variable, value in zip(self._changeable, self._best_values, strict=True):
                variable.assign(value)

    def _predict_val(self) -> np.ndarray:
        return np.concatenate([np.asarray(self.model.predict_on_batch(batch)) for batch in self._val_batches])

    def _weight_change(self) -> float:
        """‖w − w₀‖ / ‖w₀‖ over the trainable weights (NaN when there are none)."""
        moved = start = 0.0
        for variable, first in zip(self.model.trainable_variables, self._trained_at_start, strict=True):
            moved += float(np.sum(np.square(variable.numpy() - first)))
            start += float(np.sum(np.square(first)))
        return math.sqrt(moved / start) if start > 0 else math.nan

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        row_probs = self._predict_val()
        scores = score_visits(np.asarray(row_probs), self.val.row_visits, self.val.visit_labels)
        learning_rate = self.model.optimizer.learning_rate
        lr = float(ops.convert_to_numpy(learning_rate))
        logs = logs or {}
        loss = float(logs.get("loss", math.nan))
        val_loss = float(ops.convert_to_numpy(self._loss(self._val_targets, row_probs)))
        report = EpochReport(
            fold=self.plan.fold,
            stage=self.plan.name,
            epoch=epoch + 1,
            step=self.plan.first_step + epoch,
            val_qwk=scores.qwk,
            val_kappa=scores.kappa,
            train_loss=loss,
            pred_histogram=scores.pred_histogram,
            train_batches=self.batches_per_epoch,
            train_qwk=float(logs.get("qwk", math.nan)),
            val_loss=val_loss,
            baseline_qwk=self.plan.baseline_qwk,
            patience=self.plan.patience,
            seconds=time.perf_counter() - self._epoch_started,
            weight_change=self._weight_change(),
        )
        result = self.result
        result.reports.append(report)
        result.epochs_run = epoch + 1
        result.collapsed_epochs += top_class_share(scores.pred_histogram) >= COLLAPSE_SHARE
        if improves(scores.qwk, result.best_qwk if result.best_epoch else None):
            result.best_qwk, result.best_epoch, result.best_histogram = scores.qwk, epoch + 1, scores.pred_histogram
            self._best_values = [v.numpy() for v in self._changeable]
            self._since_best = 0
        else:
            self._since_best += 1
            if self._since_best % self.plan.lr_reduce_patience == 0:
                learning_rate.assign(lr * self.plan.lr_reduce_factor)
            if self._since_best >= self.plan.patience:
                self.model.stop_training = True
        if not math.isfinite(loss):
            self.model.stop_training = True  # a NaN loss never recovers; the best weights are restored
        if self.on_epoch is not None:
            try:
                self.on_epoch(report)
            except StopStage as stop:
                result.stopped_by = str(stop) or "hook"
                self.model.stop_training = True


def visit_rows(dataset: Dataset, images: dict[str, np.ndarray], visits: np.ndarray, visit_probs: np.ndarray | None):
    """The image rows of ``visits`` (positions in the metadata) as model inputs, with each row's RF
    probabilities (``visit_probs``, one row per visit) when the model fuses them."""
    row_visit = dataset.image_rows["visit"].to_numpy()
    labels = dataset.metadata.labels
    position = np.full(len(labels), -1)
    position[visits] = np.arange(len(visits))
    rows = np.flatnonzero(position[row_visit] >= 0)
    row_positions = position[row_visit[rows]]
    inputs = {m: images[m][rows] for m in dataset.image_modalities}
    if visit_probs is not None:
        inputs[RF_INPUT] = visit_probs[row_positions].astype("float32")
    return Split(inputs, labels[visits][row_positions], row_positions, labels[visits])
