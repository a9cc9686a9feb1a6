"""The image branch, the image-only model of pre-training and the fusion model.

Each branch is augmentation (random layers, the identity outside training) → backbone → head.
Both models are built on the *same* branch layers (one branch per image modality), so the fusion
model starts from the pre-trained branch weights by construction, while each model has its
own output layer: the image-only softmax is never copied into the fusion model (docs/design.md, the failure).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
from keras import layers, ops

from trainer.config import TrainConfig
from trainer.errors import ConfigError
from trainer.schema import N_CLASSES

RF_INPUT = "rf_probs"
_APPLICATIONS = {
    "efficientnetb0": "EfficientNetB0",
    "efficientnetb3": "EfficientNetB3",
    "densenet121": "DenseNet121",
}
# DenseNet expects ImageNet-normalised inputs; EfficientNet rescales [0, 255] itself.
_IMAGENET_MEAN = [0.485, 0.456, 0.406]
_IMAGENET_VARIANCE = [0.229**2, 0.224**2, 0.225**2]


@keras.saving.register_keras_serializable(package="dfu")
class WeightedFusion(keras.layers.Layer):
    """``w · rf + (1 − w) · image`` with ``w = sigmoid(lr_scale · θ)``, starting at ``w = init``.

    Learnable (the one scalar θ) by default; ``learnable=False`` keeps ``w`` fixed, as in the research
    code's 0.70/0.30 fusion, which scales the image gradient by 0.3 (docs/design.md, the failure: cause 5).

    Why ``lr_scale``: Adam moves a parameter by about one learning rate a step, whatever its gradient, so
    a logit trained directly moves ≲ 0.1 in a stage of ~100 steps at 1e-3 — and going from 0.7 to 0.9
    takes 1.35. Training θ = logit / ``lr_scale`` instead gives the weight a learning rate ``lr_scale``
    times the stage's, and nothing else changes.
    """

    def __init__(self, init: float = 0.7, learnable: bool = True, lr_scale: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.init, self.learnable, self.lr_scale = float(init), bool(learnable), float(lr_scale)

    def build(self, input_shape) -> None:
        self.logit = self.add_weight(  # θ; the name stays "logit" so that models saved before lr_scale load
            name="logit",
            shape=(),
            initializer=keras.initializers.Constant(math.log(self.init / (1.0 - self.init)) / self.lr_scale),
            trainable=self.learnable,
        )

    def call(self, inputs):
        rf, image = inputs
        w = ops.sigmoid(self.lr_scale * self.logit)
        return w * rf + (1.0 - w) * image

    @property
    def rf_weight(self) -> float:
        return float(ops.convert_to_numpy(ops.sigmoid(self.lr_scale * self.logit)))

    def get_config(self) -> dict:
        return {**super().get_config(), "init": self.init, "learnable": self.learnable, "lr_scale": self.lr_scale}


@dataclass
class ImageBranches:
    """Symbolic inputs and features of the image branches, shared by both models."""

    inputs: dict[str, keras.KerasTensor]
    features: keras.KerasTensor
    backbones: list[keras.Model]


def build_backbone(config: TrainConfig, modality: str) -> keras.Model:
    """A feature extractor from a ``(size, size, 3)`` image with values in [0, 255] to a vector."""
    shape = (config.image_size, config.image_size, 3)
    inputs = keras.Input(shape, name=f"{modality}_pixels")
    if config.backbone == "small":
        x = layers.Rescaling(1.0 / 255)(inputs)
        for block in range(config.cnn_blocks):
            filters = config.cnn_width * 2**block
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization(momentum=config.bn_momentum)(x)
            x = layers.ReLU()(x)
            x = layers.MaxPooling2D(2, padding="same")(x)
        x = layers.GlobalAveragePooling2D()(x)
        return keras.Model(inputs, x, name=f"backbone_{modality}")

    application = getattr(keras.applications, _APPLICATIONS[config.backbone])
    weights = "imagenet" if config.weights == "imagenet" else None
    try:
        base = application(include_top=False, weights=weights, input_shape=shape, pooling="avg")
    except Exception as exc:  # Keras raises a bare Exception when the download fails
        raise ConfigError(
            f"weights = 'imagenet': could not load ImageNet weights for {config.backbone} ({exc}). "
            "Offline? Use weights = 'none' or a local weights file"
        ) from None
    if config.weights not in ("none", "imagenet"):
        try:
            base.load_weights(config.weights)
        except (ValueError, OSError) as exc:
            raise ConfigError(
                f"weights = {config.weights!r}: not weights for {config.backbone} at {config.image_size} px ({exc})"
            ) from None
    x = inputs
    if config.backbone == "densenet121":
        x = layers.Rescaling(1.0 / 255)(x)
        x = layers.Normalization(mean=_IMAGENET_MEAN, variance=_IMAGENET_VARIANCE)(x)
    return keras.Model(inputs, base(x), name=f"backbone_{modality}")


def build_augmentation(config: TrainConfig, modality: str) -> keras.Sequential | None:
    """The random spatial and contrast layers of one branch, or None when every strength is 0.

    Keras' random layers are the identity unless called with ``training=True``, so validation,
    inference and the saved model see the images as they are. They run in float32 on the raw
    [0, 255] pixels whatever the precision policy.
    """
    strengths = config.augmentation()
    pieces: list[keras.layers.Layer] = []
    if strengths["aug_flip"] != "none":
        pieces.append(layers.RandomFlip(strengths["aug_flip"], dtype="float32"))
    if strengths["aug_rotation"] > 0:
        pieces.append(layers.RandomRotation(strengths["aug_rotation"], fill_mode="reflect", dtype="float32"))
    if strengths["aug_zoom"] > 0:
        pieces.append(layers.RandomZoom(strengths["aug_zoom"], fill_mode="reflect", dtype="float32"))
    if strengths["aug_translation"] > 0:
        shift = strengths["aug_translation"]
        pieces.append(layers.RandomTranslation(shift, shift, fill_mode="reflect", dtype="float32"))
    if strengths["aug_contrast"] > 0:
        pieces.append(layers.RandomContrast(strengths["aug_contrast"], value_range=(0, 255), dtype="float32"))
    if keras.backend.backend() == "jax":
        # Keras marks its affine layers as not XLA-compilable because TensorFlow's kernel is not; their
        # JAX implementation is, and without this flag JAX would run the whole model un-jitted.
        for piece in pieces:
            piece.supports_jit = True
    return keras.Sequential(pieces, name=f"augment_{modality}") if pieces else None


def build_image_branches(config: TrainConfig, modalities: tuple[str, ...]) -> ImageBranches:
    """Per modality: augmentation → backbone → Dense → BatchNorm → ReLU → Dropout; features concatenated."""
    inputs, features, backbones = {}, [], []
    for modality in modalities:
        inputs[modality] = keras.Input((config.image_size, config.image_size, 3), name=modality)
        augmentation = build_augmentation(config, modality)
        pixels = augmentation(inputs[modality]) if augmentation is not None else inputs[modality]
        backbone = build_backbone(config, modality)
        x = backbone(pixels)
        x = layers.Dense(config.head_units, name=f"head_dense_{modality}")(x)
        x = layers.BatchNormalization(momentum=config.bn_momentum, name=f"head_bn_{modality}")(x)
        x = layers.ReLU(name=f"head_relu_{modality}")(x)
        x = layers.Dropout(config.dropout, name=f"head_dropout_{modality}")(x)
        features.append(x)
        backbones.append(backbone)
    joined = features[0] if len(features) == 1 else layers.Concatenate(name="image_features")(features)
    return ImageBranches(inputs, joined, backbones)


def build_pretrain_model(branches: ImageBranches) -> keras.Model:
    """Image-only classifier for stage 0."""
    # Outputs stay float32 under a mixed policy: the softmax, the fusion and the loss need the range.
    outputs = layers.Dense(N_CLASSES, activation="softmax", dtype="float32", name="image_output")(branches.features)
    return keras.Model(branches.inputs, outputs, name="image_only")


def build_fusion_model(branches: ImageBranches, config: TrainConfig) -> keras.Model:
    """RF probabilities + image branches → class probabilities, with a fresh image output layer."""
    rf = keras.Input((N_CLASSES,), name=RF_INPUT)
    if config.fusion == "concat":
        joined = layers.Concatenate(name="fusion_features")([rf, branches.features])
        outputs = layers.Dense(N_CLASSES, activation="softmax", dtype="float32", name="fusion_output")(joined)
    else:
        image_probs = layers.Dense(N_CLASSES, activation="softmax", dtype="float32", name="fusion_image_probs")(
            branches.features
        )
        fusion = WeightedFusion(
            config.fusion_init,
            learnable=config.fusion == "learnable",
            lr_scale=config.fusion_lr_scale,
            dtype="float32",
            name="fusion",
        )
        outputs = fusion([rf, image_probs])
    return keras.Model({**branches.inputs, RF_INPUT: rf}, outputs, name="fusion")


def freeze_backbones(branches: ImageBranches) -> None:
    for backbone in branches.backbones:
        backbone.trainable = False


def unfreeze_top(branches: ImageBranches, fraction: float) -> None:
    """Train the top ``fraction`` of each backbone's weighted layers; BatchNorm stays frozen (small batches)."""
    for backbone in branches.backbones:
        backbone.trainable = True
        weighted = [layer for layer in leaf_layers(backbone) if layer.weights]
        first_trained = len(weighted) - round(len(weighted) * fraction)
        for i, layer in enumerate(weighted):
            layer.trainable = i >= first_trained and not isinstance(layer, layers.BatchNormalization)


def fusion_weight(model: keras.Model) -> float | None:
    """The RF share ``w`` of a weighted fusion model; None for concatenation."""
    try:
        layer = model.get_layer("fusion")
    except ValueError:
        return None
    return layer.rf_weight


def trainable_count(model: keras.Model) -> int:
    return int(sum(math.prod(w.shape) for w in model.trainable_weights))


def leaf_layers(layer: keras.layers.Layer) -> list[keras.layers.Layer]:
    children = getattr(layer, "layers", None)
    if not children:
        return [layer]
    return [leaf for child in children for leaf in leaf_layers(child)]
