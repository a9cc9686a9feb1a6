"""The fusion model on random rows: what ``bench/trainer.py`` and ``bench/epoch_start.py`` train to time epochs."""

from __future__ import annotations

import numpy as np

IMAGE_MODALITIES = ("depth_rgb", "thermal_map")


def parse_case(text: str) -> tuple[str, int, str]:
    """``backbone@size[:precision]`` → (backbone, size, precision)."""
    name, _, precision = text.partition(":")
    backbone, _, size = name.partition("@")
    return backbone, int(size), precision or "float32"


def random_rows(n: int, size: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """``n`` rows of uint8 images per modality and RF probabilities, with labels: only their shapes matter."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    inputs = {m: rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8) for m in IMAGE_MODALITIES}
    inputs["rf_probs"] = rng.dirichlet([1, 1, 1], n).astype("float32")
    return inputs, labels


def configure(precision: str, jit_compile: bool | str = "auto", deterministic: bool | str = "auto") -> None:
    """A fresh backend state under the given precision, as the trainer sets one up before each fold."""
    from trainer import _backend
    from trainer.model import free_memory

    free_memory()
    _backend.configure(0, precision, deterministic, jit_compile)


def fusion_model(backbone: str, size: int, precision: str):
    """The trainer's fusion network (RF probabilities + two image branches), uncompiled."""
    from trainer.config import TrainConfig
    from trainer.model import _network as models

    config = TrainConfig(backbone=backbone, image_size=size, precision=precision)
    branches = models.build_image_branches(config, IMAGE_MODALITIES)
    return models.build_fusion_model(branches, config)
