"""The training loss (Keras' focal loss with a per-class alpha) and a running training QWK (Keras has no kappa metric)."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import ops


def focal_loss(alpha: Sequence[float], gamma: float = 2.0) -> keras.losses.Loss:
    """``-Σ_c alpha_c · y_c · (1 − p_c)^γ · log p_c`` on one-hot labels and predicted probabilities.

    γ down-weights examples the model already gets right; alpha (one weight a class) re-weights
    classes. With γ = 0 and alpha = 1 it is plain categorical cross-entropy. Keras' own loss, which
    takes a per-class alpha list.
    """
    return keras.losses.CategoricalFocalCrossentropy(alpha=[float(a) for a in alpha], gamma=float(gamma))


def alpha_weights(alpha: Sequence[float], labels: np.ndarray) -> np.ndarray:
    """Each row's weight ``alpha[label]``: with one-hot labels the focal loss with a per-class alpha equals
    the unit-alpha loss weighted per row, so alpha can change per fold and trial without a new graph
    (a constant alpha is traced into the train step; sample weights are data). Only the order of two
    multiplications differs from the constant form, i.e. the last bit of some losses.
    """
    return np.asarray(alpha, dtype="float32")[np.asarray(labels, dtype=int)]


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
