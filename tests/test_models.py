"""Model pieces of the trainer: fusion weight, weight transfer, freezing, focal loss."""

from __future__ import annotations

import re
from pathlib import Path

import keras
import numpy as np
import pytest

from trainer import models
from trainer.config import load_config
from trainer.losses import FocalLoss

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
    fusion.compile(optimizer=keras.optimizers.SGD(0.5), loss=FocalLoss([1.0, 1.0, 1.0], 2.0))
    inputs, labels = _batch()
    fusion.train_on_batch(inputs, labels)
    assert models.fusion_weight(fusion) != pytest.approx(0.62, abs=1e-6)  # the logit received a gradient


def test_fixed_fusion_does_not_learn() -> None:
    config = load_config("quick", overrides={"image_size": 16, "head_units": 16, "fusion": "fixed"})
    fusion = models.build_fusion_model(models.build_image_branches(config, MODALITIES), config)
    fusion.compile(optimizer=keras.optimizers.SGD(0.5), loss=FocalLoss([1.0, 1.0, 1.0], 2.0))
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
    pretrain.compile(optimizer=keras.optimizers.SGD(0.5), loss=FocalLoss([1.0, 1.0, 1.0], 0.0))
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
        weighted = [layer for layer in models._leaf_layers(backbone) if layer.weights]
        flags = [layer.trainable for layer in weighted]
        assert not any(flags[: len(flags) // 2])
        assert any(flags[len(flags) // 2 :])
        assert not any(layer.trainable for layer in weighted if isinstance(layer, keras.layers.BatchNormalization))


def test_focal_loss_equals_numpy_reference() -> None:
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(3), 32).astype("float32")
    labels = keras.utils.to_categorical(rng.integers(0, 3, 32), 3).astype("float32")
    alpha, gamma = np.array([0.974, 0.506, 1.519]), 2.0
    reference = -(alpha * labels * (1 - probs) ** gamma * np.log(probs)).sum(axis=1).mean()
    ours = float(keras.ops.convert_to_numpy(FocalLoss(alpha, gamma)(labels, probs)))
    assert ours == pytest.approx(reference, rel=1e-5)
    # gamma 0 and alpha 1: plain categorical cross-entropy
    ce = float(keras.ops.convert_to_numpy(keras.losses.CategoricalCrossentropy()(labels, probs)))
    assert float(keras.ops.convert_to_numpy(FocalLoss([1, 1, 1], 0.0)(labels, probs))) == pytest.approx(ce, rel=1e-5)


def test_imagenet_weights_offline_fail_with_a_clear_message() -> None:
    from trainer.errors import ConfigError

    config = load_config(overrides={"backbone": "efficientnetb0", "weights": "imagenet", "image_size": 32})
    with pytest.raises(ConfigError, match="could not load ImageNet weights for efficientnetb0"):
        models.build_backbone(config, "depth_rgb")


def test_model_loss_and_metric_code_never_imports_tensorflow() -> None:
    trainer = Path(models.__file__).parent
    for name in ("models.py", "losses.py", "metrics.py", "stages.py", "training.py"):
        source = (trainer / name).read_text()
        assert not re.search(r"^\s*(import|from)\s+tensorflow", source, re.M), name
