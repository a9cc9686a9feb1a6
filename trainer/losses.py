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


@keras.saving.register_keras_serializable(package="dfu")
class RunningQWK(keras.metrics.Metric):
    """Quadratic weighted kappa of the training rows seen so far this epoch (argmax predictions).

    It accumulates a confusion matrix while ``fit`` runs, so it is the usual Keras training metric:
    dropout on and weights moving. It costs nothing extra, unlike re-predicting the training set.
    """

    def __init__(self, n_classes: int = 3, name: str = "qwk", **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.n_classes = n_classes
        self.confusion = self.add_variable(shape=(n_classes, n_classes), initializer="zeros", name="confusion")

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        true = ops.one_hot(ops.argmax(y_true, axis=-1), self.n_classes)
        pred = ops.one_hot(ops.argmax(y_pred, axis=-1), self.n_classes)
        self.confusion.assign_add(ops.matmul(ops.transpose(true), pred))

    def result(self):
        counts = self.confusion
        total = ops.maximum(ops.sum(counts), 1.0)
        index = ops.arange(self.n_classes, dtype=counts.dtype)
        weights = ops.square(index[:, None] - index[None, :]) / float((self.n_classes - 1) ** 2)
        expected = ops.outer(ops.sum(counts, axis=1), ops.sum(counts, axis=0)) / total
        disagreement = ops.sum(weights * expected)
        return ops.where(disagreement > 0, 1.0 - ops.sum(weights * counts) / ops.maximum(disagreement, 1e-12), 0.0)

    def reset_state(self) -> None:
        self.confusion.assign(ops.zeros((self.n_classes, self.n_classes)))

    def get_config(self) -> dict:
        return {**super().get_config(), "n_classes": self.n_classes}
