"""Model pieces of the trainer: fusion weight, weight transfer, freezing, focal loss."""

from __future__ import annotations

import re
from pathlib import Path

import keras
import numpy as np
import pytest

from trainer.config import load_config
from trainer.errors import ConfigError
from trainer.model import _network as models
from trainer.model import focal_loss, free_memory

TINY = load_config("quick", overrides={"image_size": 16, "head_units": 16})
MODALITIES = ("depth_rgb", "thermal_map")


def _batch(n: int = 8, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    inputs = {m: rng.integers(0, 256, (n, 16, 16, 3)).astype("float32") for m in MODALITIES}
    inputs[models.RF_INPUT] = rng.dirichlet(np.ones(3), n).astype("float32")
    return inputs, keras.utils.to_categorical(rng.integers(0, 3, n), 3)


def test_fusion_weight_starts_at_init_and_learns() -> None:
    config = load_config("quick", overrides={"image_size": 16, "head_units": 16, "fusion_init": 0.62})
    branches = models.build_image_branches(config, MODALITIES)
    fusion = models.build_fusion_model(branches, config)
    assert models.fusion_weight(fusion) == pytest.approx(0.62, abs=1e-6)
    logit = fusion.get_layer("fusion").logit
    assert logit.trainable and [w for w in fusion.trainable_weights if w is logit]
    fusion.compile(optimizer=keras.optimizers.SGD(0.5), loss=focal_loss([1.0, 1.0, 1.0], 2.0))
    inputs, labels = _batch()
    fusion.train_on_batch(inputs, labels)
    assert models.fusion_weight(fusion) != pytest.approx(0.62, abs=1e-6)  # the logit received a gradient


def test_fixed_fusion_does_not_learn() -> None:
    config = load_config("quick", overrides={"image_size": 16, "head_units": 16, "fusion": "fixed"})
    fusion = models.build_fusion_model(models.build_image_branches(config, MODALITIES), config)
    fusion.compile(optimizer=keras.optimizers.SGD(0.5), loss=focal_loss([1.0, 1.0, 1.0], 2.0))
    fusion.train_on_batch(*_batch())
    assert models.fusion_weight(fusion) == pytest.approx(0.7, abs=1e-6)
    inputs, _ = _batch()
    image_only = np.zeros_like(inputs[models.RF_INPUT])
    # output = 0.7·RF + 0.3·image: with the RF input zeroed the output sums to 0.3
    out = fusion.predict({**inputs, models.RF_INPUT: image_only}, verbose=0)
    np.testing.assert_allclose(out.sum(axis=1), 0.3, atol=1e-5)


def test_branch_weights_are_shared_but_the_output_layer_is_not() -> None:
    branches = models.build_image_branches(TINY, MODALITIES)
    pretrain = models.build_pretrain_model(branches)
    fusion = models.build_fusion_model(branches, TINY)
    fusion_names = {layer.name for layer in fusion.layers}
    assert "image_output" in {layer.name for layer in pretrain.layers}
    assert "image_output" not in fusion_names
    assert pretrain.get_layer("head_dense_depth_rgb") is fusion.get_layer("head_dense_depth_rgb")
    assert pretrain.get_layer("backbone_thermal_map") is fusion.get_layer("backbone_thermal_map")
    # train the image-only model; the fusion model's own output layer must not follow
    pretrain.compile(optimizer=keras.optimizers.SGD(0.5), loss=focal_loss([1.0, 1.0, 1.0], 0.0))
    before = fusion.get_layer("fusion_image_probs").get_weights()[0].copy()
    inputs, labels = _batch()
    pretrain.train_on_batch({m: inputs[m] for m in MODALITIES}, labels)
    np.testing.assert_array_equal(fusion.get_layer("fusion_image_probs").get_weights()[0], before)
    np.testing.assert_array_equal(
        fusion.get_layer("head_dense_depth_rgb").get_weights()[0],
        pretrain.get_layer("head_dense_depth_rgb").get_weights()[0],
    )


def test_stage1_freezes_backbones_but_trains_the_head() -> None:
    branches = models.build_image_branches(load_config(), MODALITIES)  # the default head
    fusion = models.build_fusion_model(branches, load_config())
    models.freeze_backbones(branches)
    assert all(not w.trainable for b in branches.backbones for w in b.weights)
    assert models.trainable_count(fusion) > 1000


def test_stage2_unfreezes_the_top_of_each_backbone_except_batchnorm() -> None:
    branches = models.build_image_branches(TINY, MODALITIES)
    models.freeze_backbones(branches)
    models.unfreeze_top(branches, 0.5)
    for backbone in branches.backbones:
        weighted = [layer for layer in models.leaf_layers(backbone) if layer.weights]
        flags = [layer.trainable for layer in weighted]
        assert not any(flags[: len(flags) // 2])
        assert any(flags[len(flags) // 2 :])
        assert not any(layer.trainable for layer in weighted if isinstance(layer, keras.layers.BatchNormalization))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_focal_loss_equals_the_formula_it_replaced(seed: int) -> None:
    """Keras' focal loss with a per-class alpha list is the hand-written one it replaced, per row, to 1e-6:
    ``-Σ_c alpha_c · y_c · (1 − p_c)^γ · log(clip(p_c, 1e-7, 1 − 1e-7))``."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(3), 64).astype("float32")
    probs[:4] = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.5, 0.5, 0.0]]  # the clip's edges
    labels = keras.utils.to_categorical(rng.integers(0, 3, 64), 3).astype("float32")
    alpha, gamma = rng.uniform(0.2, 3.0, 3), float(rng.choice([0.0, 1.0, 2.0, 3.5]))
    clipped = np.clip(probs.astype("float64"), 1e-7, 1 - 1e-7)
    replaced = -(alpha * labels * (1 - clipped) ** gamma * np.log(clipped)).sum(axis=1)
    loss = focal_loss(alpha, gamma)
    per_row = keras.ops.convert_to_numpy(
        loss.call(keras.ops.convert_to_tensor(labels), keras.ops.convert_to_tensor(probs))
    )
    np.testing.assert_allclose(per_row, replaced, atol=1e-6, rtol=1e-6)
    assert float(keras.ops.convert_to_numpy(loss(labels, probs))) == pytest.approx(replaced.mean(), abs=1e-6)
    # gamma 0 and alpha 1: plain categorical cross-entropy
    ce = float(keras.ops.convert_to_numpy(keras.losses.CategoricalCrossentropy()(labels, probs)))
    assert float(keras.ops.convert_to_numpy(focal_loss([1, 1, 1], 0.0)(labels, probs))) == pytest.approx(ce, rel=1e-5)


def test_imagenet_weights_offline_fail_with_a_clear_message() -> None:
    from trainer.errors import ConfigError

    config = load_config(overrides={"backbone": "efficientnetb0", "weights": "imagenet", "image_size": 32})
    with pytest.raises(ConfigError, match="could not load ImageNet weights for efficientnetb0"):
        models.build_backbone(config, "depth_rgb")


def test_model_loss_and_metric_code_never_imports_tensorflow() -> None:
    trainer = Path(models.__file__).parent.parent
    for name in ("model/_network.py", "model/_losses.py", "model/_metrics.py", "stages/_stage.py", "stages/_fold.py"):
        source = (trainer / name).read_text()
        assert not re.search(r"^\s*(import|from)\s+tensorflow", source, re.M), name


# --- precision, XLA, determinism and augmentation: each knob reaches the model ---


def _splits(n_train: int = 32, n_val: int = 12):
    from trainer.stages import Split

    def split(n: int, seed: int) -> Split:
        inputs, onehot = _batch(n, seed)
        labels = onehot.argmax(axis=1)
        return Split(inputs, labels, np.arange(n), labels)

    return split(n_train, 1), split(n_val, 2)


def _plan(epochs: int, jit_compile: bool | str):
    from trainer.stages import StagePlan

    return StagePlan("stage1", 1e-3, epochs, epochs, np.ones(3), 2.0, 8, 0.5, 9, 0, 0, jit_compile=jit_compile)


def test_mixed_float16_trains_on_the_cpu_with_loss_scaling_and_float32_outputs_and_reloads(tmp_path: Path) -> None:
    from trainer import _backend
    from trainer.final._final import _load_network
    from trainer.stages import run_stage

    overrides = {"image_size": 16, "head_units": 16, "precision": "mixed_float16", "augment": "light"}
    config = load_config("quick", overrides=overrides)
    train, val = _splits()
    try:
        assert _backend.configure(0, config.precision, config.deterministic, config.jit_compile) == "mixed_float16"
        model = models.build_fusion_model(models.build_image_branches(config, MODALITIES), config)
        conv = next(layer for layer in models.leaf_layers(model) if isinstance(layer, keras.layers.Conv2D))
        assert conv.compute_dtype == "float16" and conv.kernel.dtype == "float32"  # float32 master weights
        for name in ("fusion_image_probs", "fusion"):  # the softmax and the fusion stay float32
            assert model.get_layer(name).compute_dtype == "float32"
        losses: list[float] = []
        run_stage(model, _plan(2, config.jit_compile), train, val, lambda report: losses.append(report.train_loss))
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        assert len(losses) == 2 and np.isfinite(losses).all()
        # what `train --save-models` writes: augmentation layers and mixed policies saved with the model
        inputs = {name: array[:4] for name, array in val.inputs.items()}
        expected = keras.ops.convert_to_numpy(model.predict_on_batch(inputs))
        model.save(tmp_path / "fold0.keras")
    finally:
        free_memory()
    assert keras.config.dtype_policy().name == "float32"  # the worker's next trial starts from float32
    reloaded = _load_network(tmp_path / "fold0.keras")  # as a query process would, under float32
    conv = next(layer for layer in models.leaf_layers(reloaded) if isinstance(layer, keras.layers.Conv2D))
    assert conv.compute_dtype == "float16" and reloaded.get_layer("fusion").compute_dtype == "float32"
    assert reloaded.get_layer("augment_depth_rgb") is not None  # still there, the identity at inference
    np.testing.assert_allclose(keras.ops.convert_to_numpy(reloaded.predict_on_batch(inputs)), expected, atol=1e-6)


def test_a_stage_traces_its_train_step_once() -> None:
    """Keras traces the train step when ``fit`` first runs it; were the optimizer's variables created inside that
    trace, TensorFlow would trace it a second time (a fifth of a small trial's time on a CPU)."""
    from trainer import _backend
    from trainer.stages import run_stage

    try:
        _backend.configure(0)
        model = models.build_fusion_model(models.build_image_branches(TINY, MODALITIES), TINY)
        traced = []
        train_step = model.train_step
        model.train_step = lambda data: traced.append(1) or train_step(data)  # runs in Python only when traced
        run_stage(model, _plan(2, "auto"), *_splits(), None)
    finally:
        free_memory()
    assert len(traced) == 1


def test_precision_jit_and_determinism_resolve_per_device() -> None:
    from tensorflow.python.framework.config import is_op_determinism_enabled

    from trainer import _backend
    from trainer.stages import run_stage

    assert _backend.resolve_precision("mixed", on_gpu=True) == "mixed_float16"  # tensor cores, loss scaling
    assert _backend.resolve_precision("mixed", on_gpu=False) == "mixed_bfloat16"  # native on CPUs
    try:
        assert _backend.configure(0, "mixed") == "mixed_bfloat16"  # this machine has no GPU
        assert is_op_determinism_enabled()  # auto on a CPU: exact kernels
        model = models.build_pretrain_model(models.build_image_branches(TINY, MODALITIES))
        assert model.get_layer("image_output").compute_dtype == "float32"
        assert model.get_layer("head_dense_depth_rgb").compute_dtype == "bfloat16"
        run_stage(model, _plan(0, "auto"), *_splits(8, 4), None)
        assert model.jit_compile is False  # auto: no XLA on a CPU
        _backend.configure(0, "float32", deterministic="auto", jit_compile=True)
        assert not is_op_determinism_enabled()  # asking for XLA drops exact kernels, which exclude it
        run_stage(model, _plan(0, True), *_splits(8, 4), None)
        assert model.jit_compile is True
        _backend.configure(0, "float32", deterministic=False)
        assert not is_op_determinism_enabled()
    finally:
        _backend.configure(0)
        free_memory()
    with pytest.raises(ConfigError, match="exclude each other"):
        load_config(overrides={"jit_compile": True, "deterministic": True})


def test_augmentation_layers_train_randomly_and_are_the_identity_at_inference() -> None:
    config = load_config("quick", overrides={"image_size": 16, "head_units": 16, "augment": "strong"})
    model = models.build_fusion_model(models.build_image_branches(config, MODALITIES), config)
    for modality in MODALITIES:
        augment = model.get_layer(f"augment_{modality}")
        assert [type(layer).__name__ for layer in augment.layers] == [
            "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast"
        ]  # fmt: skip
    augment = model.get_layer("augment_depth_rgb")
    inputs, _ = _batch()
    images = inputs["depth_rgb"]
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(augment(images, training=False)), images)
    assert not np.allclose(keras.ops.convert_to_numpy(augment(images, training=True)), images)
    # inference through the whole model: no randomness left
    np.testing.assert_array_equal(model.predict_on_batch(inputs), model.predict_on_batch(inputs))

    # an explicit strength overrides the level's; a zero strength drops the layer; "none" adds nothing
    light = load_config("quick", overrides={"augment": "light", "aug_rotation": 0.0, "aug_zoom": 0.3})
    assert light.augmentation()["aug_zoom"] == 0.3 and light.augmentation()["aug_flip"] == "horizontal"
    names = [type(layer).__name__ for layer in models.build_augmentation(light, "depth_rgb").layers]
    assert "RandomRotation" not in names and "RandomZoom" in names
    assert models.build_augmentation(TINY, "depth_rgb") is None
    assert not [layer for layer in models.build_pretrain_model(models.build_image_branches(TINY, MODALITIES)).layers
                if layer.name.startswith("augment_")]  # fmt: skip


def test_running_qwk_equals_scikit_learn_over_batches() -> None:
    """The training metric accumulates a confusion matrix batch by batch: its QWK is scikit-learn's over
    every row seen this epoch, and it starts again at reset."""
    from sklearn.metrics import cohen_kappa_score

    from trainer.model._losses import RunningQWK

    rng = np.random.default_rng(3)
    metric = RunningQWK()
    truth, guesses = [], []
    for size in (7, 32, 1, 20):
        labels = rng.integers(0, 3, size)
        probs = rng.dirichlet(np.ones(3), size).astype("float32")
        metric.update_state(keras.utils.to_categorical(labels, 3), probs)
        truth.append(labels)
        guesses.append(probs.argmax(axis=1))
        expected = cohen_kappa_score(
            np.concatenate(truth), np.concatenate(guesses), weights="quadratic", labels=[0, 1, 2]
        )
        assert float(keras.ops.convert_to_numpy(metric.result())) == pytest.approx(expected, abs=1e-6)
    metric.reset_state()
    collapsed = np.tile([[0.1, 0.8, 0.1]], (5, 1)).astype("float32")  # one class predicted: QWK 0, not NaN
    metric.update_state(keras.utils.to_categorical([0, 1, 2, 1, 0], 3), collapsed)
    assert float(keras.ops.convert_to_numpy(metric.result())) == 0.0


def _fusion_stage(rf_informative: bool, init: float, scale: float) -> float:
    """A fusion stage's training (backbones frozen, as in stage 1) on 96 rows where either the RF probabilities or the
    images carry the label and the other input is noise; returns the RF weight it ends at."""
    from trainer import _backend

    _backend.reseed(0)
    rng = np.random.default_rng(0)
    n = 96
    labels = rng.integers(0, 3, n)
    if rf_informative:
        rf = np.eye(3)[labels] * 0.8 + 0.2 / 3
        pixels = rng.integers(0, 256, (n, 16, 16, 3))
    else:
        rf = rng.dirichlet(np.ones(3), n)
        pixels = np.repeat(np.repeat((labels * 110 + rng.integers(0, 25, n))[:, None, None, None], 16, 1), 16, 2)
        pixels = np.repeat(pixels, 3, 3)
    inputs = {m: pixels.astype("uint8") for m in MODALITIES} | {models.RF_INPUT: rf.astype("float32")}
    config = load_config("quick", overrides={"image_size": 16, "head_units": 16, "fusion_init": init,
                                             "fusion_lr_scale": scale})  # fmt: skip
    branches = models.build_image_branches(config, MODALITIES)
    model = models.build_fusion_model(branches, config)
    models.freeze_backbones(branches)
    # the stage's optimizer and loss, 6 epochs of 6 steps (no best-epoch restore: the weight's own path)
    model.compile(optimizer=keras.optimizers.Adam(3e-4), loss=focal_loss(np.ones(3), 2.0))
    model.fit(inputs, keras.utils.to_categorical(labels, 3), batch_size=16, epochs=6, verbose=0)
    return models.fusion_weight(model)


def test_the_fusion_weight_moves_toward_the_informative_input() -> None:
    """RF informative, images noise: the weight rises from a low start; images informative, RF noise: it falls
    from a high start — each by more than half of what 36 Adam steps at 3e-4 × 100 allow (1.1 in logit). At the
    stage's own learning rate (scale 1, how it was) it hardly moves."""
    logit = lambda w: float(np.log(w / (1 - w)))  # noqa: E731
    assert logit(_fusion_stage(True, 0.3, 100.0)) - logit(0.3) > 0.55
    assert logit(0.9) - logit(_fusion_stage(False, 0.9, 100.0)) > 0.55
    assert abs(logit(_fusion_stage(True, 0.3, 1.0)) - logit(0.3)) < 0.02  # the inert weight this replaces
