"""Focal loss with per-class alpha, written in ``keras.ops`` so it runs on any backend."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

_EPSILON = 1e-7


@keras.saving.register_keras_serializable(package="dfu")
class FocalLoss(keras.losses.Loss):
    """``-Σ_c alpha_c · y_c · (1 − p_c)^γ · log p_c`` on one-hot labels and predicted probabilities.

    γ down-weights examples the model already gets right; alpha re-weights classes. With γ = 0
    and alpha = 1 it is plain categorical cross-entropy.
    """

    def __init__(self, alpha: Sequence[float], gamma: float = 2.0, name: str = "focal_loss", **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.alpha = [float(a) for a in alpha]
        self.gamma = float(gamma)

    def call(self, y_true, y_pred):
        y_pred = ops.clip(y_pred, _EPSILON, 1.0 - _EPSILON)
        y_true = ops.cast(y_true, y_pred.dtype)
        alpha = ops.convert_to_tensor(self.alpha, dtype=y_pred.dtype)
        per_class = -alpha * y_true * ops.power(1.0 - y_pred, self.gamma) * ops.log(y_pred)
        return ops.sum(per_class, axis=-1)

    def get_config(self) -> dict:
        return {**super().get_config(), "alpha": self.alpha, "gamma": self.gamma}
