"""How a stage's training rows reach ``model.fit``: on TensorFlow, one ``tf.data`` pipeline and one iterator for
all of a stage's epochs, where Keras makes an iterator every epoch.

Why: given NumPy arrays, Keras' TensorFlow trainer builds a ``tf.data`` pipeline per ``fit`` and starts a new
iterator of it every epoch; starting it took ~17 % of a warm worker's trial time (``bench/compile_once.py``,
the profile), more than anything else that is not executing ops.

The batches are exactly Keras' own: Keras draws an epoch's order with ``tf.random.shuffle`` inside the pipeline,
and a new iterator of a pipeline seeded alike draws the same order again, so with every generator seeded at
the stage's start (``trainer.stages._fold.stage_seed``) every epoch of a stage sees the same order.
:func:`epoch_order` draws that order once, with the same op in the same place, and :func:`fit_arguments`
repeats its batches (full batches first, the partial one last, as Keras slices them) for every epoch.
``tests/test_feeding.py`` holds the order to Keras' own adapter. On other backends ``fit`` gets the arrays as
before (JAX's adapter iterates NumPy arrays, reshuffled every epoch, at no such cost).
"""

from __future__ import annotations

import math

import keras
import numpy as np


def fit_arguments(inputs: dict[str, np.ndarray], targets: np.ndarray, weights: np.ndarray, batch_size: int,
                  epochs: int) -> dict:  # fmt: skip
    """Keyword arguments for ``model.fit`` that feed these rows, shuffled, ``batch_size`` at a time for ``epochs``."""
    if keras.backend.backend() != "tensorflow":
        return {"x": inputs, "y": targets, "sample_weight": weights, "batch_size": batch_size, "shuffle": True}
    import tensorflow as tf

    order = epoch_order(len(targets))
    full = len(order) // batch_size * batch_size
    batches = tf.data.Dataset.from_tensor_slices(order[:full].reshape(-1, batch_size))
    if full < len(order):
        batches = batches.concatenate(tf.data.Dataset.from_tensors(order[full:]))
    # Keras casts floating arrays to float32 (floatx) and keeps integer ones (the uint8 images) as they are.
    rows = tuple(
        {name: tf.constant(_floatx(array)) for name, array in part.items()}
        if isinstance(part, dict)
        else tf.constant(_floatx(part))
        for part in (inputs, targets, weights)
    )
    dataset = batches.repeat(epochs).map(
        lambda index: tf.nest.map_structure(lambda tensor: tf.gather(tensor, index, axis=0), rows)
    )
    # shuffle=False: the order is in the data set already (fit's default would only warn that it ignores it).
    steps = math.ceil(len(order) / batch_size)
    return {"x": dataset.prefetch(tf.data.AUTOTUNE), "steps_per_epoch": steps, "shuffle": False}


def epoch_order(n_rows: int) -> np.ndarray:
    """The order Keras' array adapter gives an epoch of ``n_rows`` rows (TensorFlow), under the current seeds."""
    import tensorflow as tf

    def permutation(_):  # as keras.src.trainers.data_adapters.array_data_adapter draws it
        indices = tf.range(n_rows, dtype=tf.int64)
        return tf.random.shuffle(indices)

    return next(iter(tf.data.Dataset.range(1).map(permutation))).numpy()


def _floatx(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    return array.astype(keras.config.floatx()) if np.issubdtype(array.dtype, np.floating) else array
