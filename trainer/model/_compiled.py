"""Compiled models kept per process: each graph is built and compiled once, then reused by every later
fold, stage and trial that needs the same graph (``bench/compile_once.py`` measures what that saves).

Why: building and compiling a model is cheap in Python, but its first ``fit`` and ``predict`` trace the
train and predict steps into graphs (TensorFlow) or compile them with XLA (JAX). A trial runs six to nine
stages; when each built and compiled a new model, a worker spent ~31 % of its time tracing and ~15 %
clearing Keras' session between folds, against ~18 % executing ops.

What makes a reuse exact: every fold starts the kept models from exactly the values a fresh build would give
them (:func:`start_fold`, :meth:`CompiledModels.start_fusion`: every variable, BatchNorm statistics and
random-layer seed states included, every layer trainable again, the generators where the build leaves
them), taken from a fresh build or from the one the same random state gave before. Each stage then restores
its optimizer's variables to their values right after the optimizer was built and assigns the stage's
learning rate (:func:`ready_to_train`). What changes from trial to trial and used to be a constant inside
the graph is data now: the focal loss's per-class alpha is a per-sample weight ``alpha[label]``
(``trainer.model.alpha_weights``). Whatever else decides the graph is the key:
every :class:`~trainer.config.TrainConfig` field outside :data:`VALUE_FIELDS`, the image modalities,
whether the model fuses the RF, the Keras backend and the dtype policy.
"""

from __future__ import annotations

import contextlib
import logging
import random
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, fields

import keras
import numpy as np

from trainer.config import TrainConfig
from trainer.model._losses import RunningQWK, focal_loss
from trainer.model._network import ImageBranches, build_fusion_model, leaf_layers

log = logging.getLogger(__name__)

#: Settings whose values a reuse assigns or feeds as data, so they never change a graph: seeds, learning
#: rates, epochs, alpha (per-sample weights), the fusion weight's start, the weights a backbone starts from,
#: the batch size (the traced step takes any batch), and the metadata branch. Every other field is part of
#: the key, so a field added later starts out as part of it (safe: a new graph, never a wrong one).
VALUE_FIELDS = frozenset({
    "modalities", "folds", "seed", "weights", "alpha_cap", "pretrain_alpha", "batch_size", "lr_pretrain",
    "lr_stage1", "lr_stage2", "epochs_pretrain", "epochs_stage1", "epochs_stage2", "patience_pretrain",
    "patience_stage1", "patience_stage2", "lr_reduce_factor", "lr_reduce_patience", "fusion_init", "rf_trees",
    "rf_max_depth", "rf_min_leaf", "rf_alpha_cap", "rf_oof_folds",
})  # fmt: skip
#: Distinct graphs a process keeps (least recently used dropped first): a study over architectures
#: alternates between a few, and each kept one holds its weights, optimizer slots and traced functions.
MAX_GRAPHS = 3


def graph_fields() -> list[str]:
    """The :class:`TrainConfig` fields that decide a graph (everything outside :data:`VALUE_FIELDS`)."""
    return [f.name for f in fields(TrainConfig) if f.name not in VALUE_FIELDS]


def graph_key(config: TrainConfig, modalities: tuple[str, ...], fused: bool) -> tuple:
    """What decides the graphs of a fold's models: equal keys build models that one compiled set serves."""
    policy = keras.config.dtype_policy().name  # set per fold by trainer._backend.configure
    return (
        keras.backend.backend(),
        policy,
        tuple(modalities),
        fused,
        tuple((name, getattr(config, name)) for name in graph_fields()),
    )


@dataclass(frozen=True)
class _Start:
    """What building a fold's pre-training model gives: every variable's value, and the generators' states after."""

    values: list[np.ndarray]
    python_state: tuple
    numpy_state: tuple

    @property
    def bytes(self) -> int:
        return sum(v.nbytes for v in self.values)


@dataclass
class CompiledModels:
    """One graph's models, kept: the image-only model of pre-training, the fusion model of stage 1
    (backbones frozen), and the same fusion layers as a second model for stage 2, compiled while the top
    of the backbones is trainable (a compiled train step holds the trainable set it was traced with).

    ``starts``: the values a fresh build of the pre-training model gives, by the random state it was built
    from (a study's fold k builds from the same state in every trial), so a later fold skips the build."""

    key: tuple
    branches: ImageBranches
    pretrain: keras.Model
    fusion: keras.Model | None = None
    fine_tune: keras.Model | None = None
    starts: OrderedDict[tuple, _Start] = field(default_factory=OrderedDict)

    def start_fusion(self, config: TrainConfig) -> None:
        """Give the fusion layers (the new output layers and the fusion weight) the values a fresh
        :func:`~trainer.model.build_fusion_model` gives them now, keeping the branches as pre-training left them.

        The first time, the fusion model is built on the kept branches and kept. Afterwards its new layers are
        built again on a stand-in for the branch features (an input of the same width): the same layers,
        created in the same order, draw the same random numbers, without building any branch."""
        if self.fusion is None:
            self.fusion = build_fusion_model(self.branches, config)
            self.fine_tune = keras.Model(self.fusion.input, self.fusion.output, name="fine_tune")
            return
        features = keras.Input((self.branches.features.shape[-1],), name="image_features")
        fresh = build_fusion_model(ImageBranches({"image_features": features}, features, []), config)
        branch_ids = {id(v) for v in self.pretrain.variables}
        _assign(fresh.variables, [v for v in self.fusion.variables if id(v) not in branch_ids], "fusion layers")

    def _remember(self, key: tuple, start: _Start) -> None:
        self.starts[key] = start
        while len(self.starts) > 1 and sum(s.bytes for s in self.starts.values()) > MAX_START_BYTES:
            self.starts.popitem(last=False)


_kept: OrderedDict[tuple, CompiledModels] = OrderedDict()
#: Starting values kept per graph (a study has one per fold); the oldest go past this size.
MAX_START_BYTES = 256 * 2**20


def start_fold(
    config: TrainConfig,
    modalities: tuple[str, ...],
    fused: bool,
    build: Callable[[], tuple[ImageBranches, keras.Model]],
) -> CompiledModels:
    """The kept models of this graph, set to what ``build()`` (fresh branches and pre-training model, as
    :func:`~trainer.model.build_image_branches` and :func:`~trainer.model.build_pretrain_model` make them)
    would give now: every variable's value, every layer trainable, and Python's and NumPy's generators where
    the build leaves them. The first fold of a graph keeps what it builds (the kept models draw no random
    numbers of their own); a later fold that starts from a random state seen before takes the values that
    state gave (a study's folds repeat from trial to trial), and only an unseen one builds. Call after
    ``trainer._backend.configure``, which seeds the fold and sets the dtype policy."""
    key = graph_key(config, modalities, fused)
    # What a fresh build's values depend on: the graph, the weights it loads, and the random state.
    numpy_state = np.random.get_state()
    start_key = (config.weights, random.getstate(), numpy_state[1].tobytes(), numpy_state[2])
    kept = _kept.get(key)
    if kept is None:
        branches, pretrain = build()
        kept = _kept[key] = CompiledModels(key, branches, pretrain)
        kept._remember(start_key, _snapshot(pretrain))
        while len(_kept) > MAX_GRAPHS:
            _kept.popitem(last=False)
        return kept
    _kept.move_to_end(key)
    for backbone in kept.branches.backbones:
        backbone.trainable = True
    start = kept.starts.get(start_key)
    if start is None:
        _, pretrain = build()
        if [layer.trainable for layer in leaf_layers(pretrain)] != [
            layer.trainable for layer in leaf_layers(kept.pretrain)
        ]:
            raise RuntimeError("the kept model's trainable flags differ from a fresh build's")
        start = _snapshot(pretrain)
        kept._remember(start_key, start)
    else:
        kept.starts.move_to_end(start_key)
        random.setstate(start.python_state)
        np.random.set_state(start.numpy_state)
    _assign(start.values, kept.pretrain.variables, "pre-training model")
    return kept


def _snapshot(model: keras.Model) -> _Start:
    return _Start(_values(model.variables), random.getstate(), np.random.get_state())


def _values(variables: list) -> list[np.ndarray]:
    """Copies of the variables' values (NumPy), to assign back later."""
    return [np.array(keras.ops.convert_to_numpy(v)) for v in variables]


def free_memory() -> None:
    """Forget every kept model and drop Keras' global state.

    Training never needs this between folds or trials (the kept models are reused, and a fold's fresh
    build is garbage once its values are assigned); tests and benchmarks that build models of their own
    call it to start clean.
    """
    import gc

    _kept.clear()
    _compiled.clear()
    keras.backend.clear_session()
    keras.config.set_dtype_policy("float32")
    gc.collect()


@dataclass(frozen=True)
class _Compiled:
    trainable: tuple[int, ...]  # the variables the train step was traced to update, by identity
    gamma: float
    jit_compile: bool | str
    optimizer_start: list[np.ndarray]  # every optimizer variable right after it was built


_compiled: weakref.WeakKeyDictionary[keras.Model, _Compiled] = weakref.WeakKeyDictionary()


def ready_to_train(model: keras.Model, lr: float, gamma: float, jit_compile: bool | str, example: tuple) -> None:
    """Compile ``model`` the first time it trains with this trainable set, loss and XLA setting; afterwards
    put its optimizer back to its freshly built state. Either way the optimizer runs at ``lr``: the train
    step starts exactly as a newly compiled one would. ``example``: ``(inputs, targets, sample weights)`` of a
    batch, whose shapes build the loss and metrics."""
    trainable = tuple(id(v) for v in model.trainable_variables)
    state = _compiled.get(model)
    if state is None or (state.trainable, state.gamma, state.jit_compile) != (trainable, gamma, jit_compile):
        # Compiling may draw from Python's and NumPy's generators (on JAX it does); keep them where the stage's
        # seed put them, so a stage that compiles trains exactly as one that reuses (JAX shuffles with NumPy).
        with _generators_kept():
            # Alpha is each row's sample weight (unit alpha here). Under a mixed_float16 policy Keras wraps Adam
            # in a LossScaleOptimizer, whose scale is among the variables restored below.
            model.compile(
                optimizer=keras.optimizers.Adam(lr),
                loss=focal_loss([1.0, 1.0, 1.0], gamma),
                metrics=[RunningQWK()],
                jit_compile=jit_compile,
            )
            # Built here, not inside the first traced train step: a tf.function that creates variables is traced
            # twice, and the second trace was ~20 % of a small trial's time on a CPU (same numbers either way).
            model.optimizer.build(model.trainable_variables)
            # What a compiled model's first ``fit`` does before its first step, done here from ``example``:
            # otherwise that fit takes a batch from its data to learn the shapes, and on JAX the extra
            # shuffle draws NumPy numbers, so a stage that compiles would shuffle unlike one that reuses.
            model._symbolic_build(data_batch=example)
        _compiled[model] = _Compiled(trainable, gamma, jit_compile, _values(model.optimizer.variables))
    else:
        for variable, value in zip(model.optimizer.variables, state.optimizer_start, strict=True):
            variable.assign(value)
    model.optimizer.learning_rate.assign(lr)


@contextlib.contextmanager
def _generators_kept():
    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


def _assign(source: list, target: list, what: str) -> None:
    if len(source) != len(target) or any(tuple(s.shape) != tuple(t.shape) for s, t in zip(source, target)):
        raise RuntimeError(f"a fresh {what} does not match the compiled one of the same key (a bug in graph_key)")
    for s, t in zip(source, target, strict=True):
        t.assign(s.value if isinstance(s, keras.Variable) else s)
