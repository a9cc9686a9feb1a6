"""trainer.stages._feeding: one pipeline for a stage's epochs gives the batches Keras' own array adapter gives."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from trainer.stages._feeding import fit_arguments


def _keras_epochs(x: np.ndarray, y: np.ndarray, weights: np.ndarray, batch_size: int, epochs: int) -> list:
    """What ``fit(x, y, sample_weight=weights, shuffle=True)`` iterates on TensorFlow: a new iterator each epoch."""
    from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter

    adapter = ArrayDataAdapter({"image": x}, y, weights, batch_size=batch_size, shuffle=True)
    dataset = adapter.get_tf_dataset()
    return [[tuple(np.asarray(t) for t in (b[0]["image"], b[1], b[2])) for b in dataset] for _ in range(epochs)]


@pytest.mark.parametrize(("rows", "batch_size", "seed"), [(10, 4, 3), (37, 8, 11), (32, 32, 0), (5, 8, 7)])
def test_every_epoch_gets_the_batches_keras_gives(rows: int, batch_size: int, seed: int) -> None:
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the single pipeline is TensorFlow's")
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 255, (rows, 4, 4, 3), dtype=np.uint8)
    y = keras.utils.to_categorical(rng.integers(0, 3, rows), 3)  # float64, as the trainer passes it
    weights = rng.random(rows).astype("float32")
    batch_size = min(batch_size, rows)
    keras.utils.set_random_seed(seed)
    expected = _keras_epochs(x, y, weights, batch_size, epochs=3)
    keras.utils.set_random_seed(seed)
    arguments = fit_arguments({"image": x}, y, weights, batch_size, epochs=3)
    steps = arguments["steps_per_epoch"]
    assert arguments["shuffle"] is False
    batches = [tuple(np.asarray(t) for t in (b[0]["image"], b[1], b[2])) for b in arguments["x"]]
    got = [batches[e * steps : (e + 1) * steps] for e in range(3)]
    assert len(batches) == 3 * steps == 3 * len(expected[0])
    for epoch_got, epoch_expected in zip(got, expected, strict=True):
        for mine, theirs in zip(epoch_got, epoch_expected, strict=True):
            for a, b in zip(mine, theirs, strict=True):
                assert a.dtype == b.dtype and np.array_equal(a, b)
    assert got[0][0][0].dtype == np.uint8 and got[0][0][1].dtype == np.float32  # Keras' dtypes: floats to floatx
