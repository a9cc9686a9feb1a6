"""The trainer's configuration: one dataclass naming every knob, loaded from TOML.

Layers, later wins: the defaults below → a preset (shipped name or TOML file) → ``--config`` file
→ ``--set key=value`` overrides. The search samples some of these fields per trial.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

from trainer.errors import ConfigError
from trainer.schema import MODALITIES

BACKBONES = ("small", "efficientnetb0", "efficientnetb3", "densenet121")
FUSIONS = ("learnable", "fixed", "concat")
PRECISIONS = ("float32", "mixed", "mixed_float16", "mixed_bfloat16")
AUGMENT_LEVELS = ("none", "light", "strong")
FLIPS = ("none", "horizontal", "vertical", "horizontal_and_vertical")
#: Augmentation strengths a level stands for; an explicit ``aug_*`` number or flip overrides its entry.
AUGMENT_STRENGTHS = {
    "none": {"aug_flip": "none", "aug_rotation": 0.0, "aug_zoom": 0.0, "aug_translation": 0.0, "aug_contrast": 0.0},
    "light": {"aug_flip": "horizontal", "aug_rotation": 0.05, "aug_zoom": 0.1, "aug_translation": 0.05,
              "aug_contrast": 0.1},
    "strong": {"aug_flip": "horizontal_and_vertical", "aug_rotation": 0.25, "aug_zoom": 0.2,
               "aug_translation": 0.1, "aug_contrast": 0.2},
}  # fmt: skip
_AUTO_FLAGS = ("jit_compile", "deterministic")  # true | false | "auto"
_AUGMENT_NUMBERS = tuple(name for name in AUGMENT_STRENGTHS["none"] if name != "aug_flip")
STAGES = ("pretrain", "stage1", "stage2")
#: Settings that fix what a global step means (fold, stage, epoch) or what a step's value is measured on:
#: every trial of a study must share them, so the search may not sample them per trial.
LAYOUT_KEYS = ("folds", "seed", "modalities", "image_size", *(f"epochs_{s}" for s in STAGES))


@dataclass(frozen=True)
class RFSettings:
    """The RandomForest of the metadata branch, from a :class:`TrainConfig`'s ``rf_*`` settings (its defaults)."""

    trees: int
    max_depth: int
    min_leaf: int
    alpha_cap: float | str  # class weights: inverse frequency, "none" uncapped ≈ "balanced"
    oof_folds: int
    seed: int


@dataclass(frozen=True)
class StepLayout:
    """Which fold, stage and epoch a global step is: ``step = fold · E + stage offset + epoch − 1``."""

    epochs: tuple[int, ...]  # configured maximum per stage, in STAGES order

    @property
    def steps_per_fold(self) -> int:
        return sum(self.epochs)

    def offset(self, stage: str) -> int:
        """First step of ``stage`` within a fold."""
        return sum(self.epochs[: STAGES.index(stage)])

    def step(self, fold: int, stage: str, epoch: int) -> int:
        """``fold · E + stage offset + epoch − 1``: the same (fold, stage, epoch) is the same step in every trial."""
        return fold * self.steps_per_fold + self.offset(stage) + epoch - 1

    def locate(self, step: int) -> tuple[int, str, int, int]:
        """(fold, stage, epoch, first step of that stage in that fold)."""
        fold, within = divmod(step, self.steps_per_fold)
        offset = 0
        for stage, n in zip(STAGES, self.epochs):
            if within < offset + n:
                return fold, stage, within - offset + 1, fold * self.steps_per_fold + offset
            offset += n
        raise ValueError(f"step {step} is outside the layout {self.epochs}")


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run. ``"none"`` stands for "no value" where TOML has no null."""

    # What to train on
    modalities: tuple[str, ...] = ()  # empty: metadata + depth_rgb + thermal_map when the data has images
    folds: int = 5
    seed: int = 0
    # Image branch
    backbone: str = "small"
    weights: str = "none"  # none | imagenet | path to a .weights.h5 file for the backbone
    image_size: int = 64
    cnn_width: int = 16  # filters of the small CNN's first block (doubling per block); other backbones ignore it
    cnn_blocks: int = 3  # conv blocks of the small CNN
    head_units: int = 64
    dropout: float = 0.3
    # Keras' default 0.99 needs hundreds of steps before validation-mode statistics are usable; a stage
    # here may have ~50 steps an epoch, so early epochs would be scored with stale statistics.
    bn_momentum: float = 0.9  # BatchNorm layers the trainer builds (small CNN and heads)
    # Loss and class weights
    gamma: float = 2.0
    alpha_cap: float | str = 3.0  # cap on max/min alpha for the fusion stages; "none" uncapped
    pretrain_alpha: float | str = "equal"  # alpha of image pre-training: "equal", "none" (frequency) or a cap
    # Optimisation, per stage
    batch_size: int = 32
    lr_pretrain: float = 1e-3
    lr_stage1: float = (
        3e-4  # at 1e-3 stage 1 can converge within its first epoch (docs/design.md, the failure: cause 3)
    )
    lr_stage2: float = 1e-4
    epochs_pretrain: int = 30
    epochs_stage1: int = 20
    epochs_stage2: int = 10
    patience_pretrain: int = 8
    patience_stage1: int = 6
    patience_stage2: int = 4
    lr_reduce_factor: float = 0.5
    lr_reduce_patience: int = 3
    unfreeze_fraction: float = 0.3  # top share of each backbone's layers trained in stage 2 (BatchNorm stays frozen)
    # Fusion of the RF and image probabilities
    fusion: str = "learnable"  # learnable: w = sigmoid(logit); fixed: constant w; concat: features → Dense
    fusion_init: float = 0.7  # initial (or fixed) weight of the RF probabilities
    fusion_lr_scale: float = (
        100.0  # the learnable weight's learning rate, as a multiple of the stage's (bench: fusion-weight.json)
    )
    # Metadata branch (cached per fold; not searched by default)
    rf_trees: int = 300
    rf_max_depth: int = 10
    rf_min_leaf: int = 5
    rf_alpha_cap: float | str = "none"
    rf_oof_folds: int = 5
    # Speed and reproducibility; the "auto" defaults suit a CPU and a GPU alike (README, "Training").
    # mixed: float16 compute with loss scaling on a CUDA GPU, bfloat16 elsewhere; the softmax outputs,
    # the fusion and the loss stay float32. mixed_float16 / mixed_bfloat16 name one explicitly.
    precision: str = "float32"
    jit_compile: bool | str = "auto"  # XLA; auto: on when a GPU is visible and every layer supports it
    deterministic: bool | str = "auto"  # deterministic kernels; auto: on a CPU yes, on a GPU no (faster)
    # Augmentation of training images only (never validation or inference): a level sets every
    # strength; an explicit strength overrides the level's ("level" = take the level's).
    augment: str = "none"  # none | light | strong (AUGMENT_STRENGTHS)
    aug_flip: str = "level"  # none | horizontal | vertical | horizontal_and_vertical
    aug_rotation: float | str = "level"  # ± fraction of a full turn
    aug_zoom: float | str = "level"  # ± fraction of the image size
    aug_translation: float | str = "level"  # ± fraction of the image size
    aug_contrast: float | str = "level"  # ± contrast factor

    def augmentation(self) -> dict[str, Any]:
        """The effective strengths: the level's, with every explicit ``aug_*`` setting applied over it."""
        strengths = dict(AUGMENT_STRENGTHS[self.augment])
        for name in strengths:
            if getattr(self, name) != "level":
                strengths[name] = getattr(self, name)
        return strengths

    @property
    def rf_settings(self) -> RFSettings:
        return RFSettings(
            self.rf_trees, self.rf_max_depth, self.rf_min_leaf, self.rf_alpha_cap, self.rf_oof_folds, self.seed
        )

    def epochs(self, stage: str) -> int:
        return getattr(self, f"epochs_{stage}")

    @property
    def layout(self) -> StepLayout:
        """What a global step means: fixed by the configured maxima, so steps mean the same in every trial."""
        return StepLayout(tuple(self.epochs(stage) for stage in STAGES))

    @property
    def steps_per_fold(self) -> int:
        return self.layout.steps_per_fold

    def global_step(self, fold: int, stage: str, epoch: int) -> int:
        return self.layout.step(fold, stage, epoch)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["modalities"] = list(self.modalities)
        return data

    def to_toml(self) -> str:
        """A TOML file that :func:`load_config` reads back to an equal config."""
        import tomli_w

        return "# dfu-search trainer config\n" + tomli_w.dumps(self.as_dict())


def preset_names() -> list[str]:
    return sorted(
        p.name.removesuffix(".toml")
        for p in resources.files("trainer.config.presets").iterdir()
        if p.name.endswith(".toml")
    )


def read_toml(source: str | Path) -> tuple[dict[str, Any], str]:
    """Read a preset name or TOML file; returns the table and a label for error messages."""
    text_source = str(source)
    if text_source in preset_names():
        return tomllib.loads(
            resources.files("trainer.config.presets").joinpath(f"{text_source}.toml").read_text()
        ), f"preset {text_source}"
    path = Path(source)
    if not path.is_file():
        raise ConfigError(f"{source}: no such preset or file (presets: {', '.join(preset_names())})")
    try:
        return tomllib.loads(path.read_text()), str(path)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


def load_config(
    preset: str | Path | None = None,
    config_file: str | Path | None = None,
    overrides: list[str] | dict[str, Any] | None = None,
) -> TrainConfig:
    """Defaults → preset → config file → overrides (``["key=value", ...]`` or a dict)."""
    config = TrainConfig()
    for source in (preset, config_file):
        if source is not None:
            table, label = read_toml(source)
            config = apply(config, table, label)
    if isinstance(overrides, dict):
        config = apply(config, overrides, "overrides")
    elif overrides:
        config = apply(config, dict(parse_assignment(o) for o in overrides), "--set")
    return config


def parse_assignment(text: str) -> tuple[str, Any]:
    """``key=value`` with a TOML value (``lr_stage2=1e-6``, ``modalities=["metadata"]``); bare words are strings."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: expected key=value")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key.strip(), value


def apply(config: TrainConfig, values: dict[str, Any], label: str) -> TrainConfig:
    """Return ``config`` with ``values`` applied, each checked against the field's type and range."""
    known = {f.name: f for f in fields(TrainConfig)}
    changes = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"{label}: unknown setting {key!r}")
        changes[key] = _coerce(key, value, getattr(config, key), label)
    return validate(replace(config, **changes), label)


#: Settings that take one of a few names.
_CHOICES = {
    "backbone": BACKBONES, "precision": PRECISIONS, "augment": AUGMENT_LEVELS, "aug_flip": ("level", *FLIPS),
    "fusion": FUSIONS,
}  # fmt: skip
#: Whole numbers with a floor: cross-validation needs a fold to hold out and one to fit on.
_AT_LEAST = {
    "folds": 2, "rf_oof_folds": 2, "image_size": 1, "batch_size": 1, "head_units": 1, "cnn_width": 1, "cnn_blocks": 1,
    "rf_trees": 1, "rf_max_depth": 1, "rf_min_leaf": 1, "lr_reduce_patience": 1,
    **{f"epochs_{stage}": 0 for stage in STAGES}, **{f"patience_{stage}": 1 for stage in STAGES},
}  # fmt: skip
#: Numbers in an interval: (low, high, low included, high included).
_RANGES = {
    "fusion_init": (0, 1, False, False), "bn_momentum": (0, 1, False, False), "unfreeze_fraction": (0, 1, True, True),
    "dropout": (0, 1, True, False), "gamma": (0, float("inf"), True, False),
    "fusion_lr_scale": (0, float("inf"), False, False),
    **{name: (0, float("inf"), False, False) for name in ("lr_pretrain", "lr_stage1", "lr_stage2", "lr_reduce_factor")},
}  # fmt: skip


def validate(config: TrainConfig, label: str = "config") -> TrainConfig:
    """Every setting within its rules (:data:`_CHOICES`, :data:`_AT_LEAST`, :data:`_RANGES` and the few
    that relate settings); raises :class:`ConfigError` naming the first one that is not."""

    def fail(message: str) -> None:
        raise ConfigError(f"{label}: {message}")

    bad = [m for m in config.modalities if m not in MODALITIES]
    if bad:
        fail(f"unknown modality {bad[0]!r} (choose from {', '.join(MODALITIES)})")
    for name, choices in _CHOICES.items():
        if getattr(config, name) not in choices:
            fail(f"{name} must be one of {', '.join(choices)}, got {getattr(config, name)!r}")
    for name, floor in _AT_LEAST.items():
        if getattr(config, name) < floor:
            fail(f"{name} must be at least {floor}, got {getattr(config, name)}")
    for name, (low, high, low_in, high_in) in _RANGES.items():
        value = getattr(config, name)
        if not ((low <= value) if low_in else (low < value)) or not ((value <= high) if high_in else (value < high)):
            where = (
                f"{'>=' if low_in else '>'} {low}"
                if high == float("inf")
                else (f"in {'[' if low_in else '('}{low}, {high}{']' if high_in else ')'}")
            )
            fail(f"{name} must be {where}, got {value}")
    for name in _AUGMENT_NUMBERS:
        value = getattr(config, name)
        if value != "level" and not 0 <= value < 1:
            fail(f"{name} must lie in [0, 1) or be 'level', got {value!r}")
    for name in ("alpha_cap", "pretrain_alpha", "rf_alpha_cap"):
        value = getattr(config, name)
        if isinstance(value, str) and value not in ("none", "equal") or not isinstance(value, str) and value < 1:
            fail(f"{name} must be a number >= 1, 'none' or 'equal', got {value!r}")
    if config.jit_compile is True and config.deterministic is True:
        fail("jit_compile = true and deterministic = true exclude each other (TensorFlow has no deterministic XLA)")
    if config.weights not in ("none", "imagenet") and not Path(config.weights).is_file():
        fail(f"weights must be 'none', 'imagenet' or an existing weights file; {config.weights!r} not found")
    if config.weights != "none" and config.backbone == "small":
        fail("the 'small' backbone has no pretrained weights; use weights = 'none'")
    return config


def _coerce(key: str, value: Any, current: Any, label: str) -> Any:
    template = TrainConfig.__dataclass_fields__[key]
    try:
        if key == "modalities":
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(str(m).strip() for m in items if str(m).strip())
        if key in _AUTO_FLAGS:
            if isinstance(value, bool):
                return value
            text = value.lower() if isinstance(value, str) else None
            if text not in ("auto", "true", "false"):
                raise ConfigError(f"{label}: {key} must be true, false or 'auto', got {value!r}")
            return "auto" if text == "auto" else text == "true"
        if key in _AUGMENT_NUMBERS:
            if isinstance(value, str):
                if value.lower() != "level":
                    raise ConfigError(f"{label}: {key} must be a number in [0, 1) or 'level', got {value!r}")
                return "level"
            return float(value)
        if key in ("alpha_cap", "pretrain_alpha", "rf_alpha_cap"):
            return value.lower() if isinstance(value, str) and value.lower() in ("none", "equal") else float(value)
        if isinstance(template.default, bool):
            return bool(value)
        if isinstance(template.default, int):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if isinstance(template.default, float):
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{label}: {key} = {value!r} is not a valid {type(current).__name__}") from None


__all__ = ["STAGES", "TrainConfig", "load_config", "preset_names"]
