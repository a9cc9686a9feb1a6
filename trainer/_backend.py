"""Backend set-up kept in one place, so model, loss and metric code only ever imports ``keras``.

Importing this module imports Keras (and so TensorFlow on the default backend): only the training
path does, never the CLI's start-up, storage or query code.
"""

from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def _native_stderr_silenced():
    """TensorFlow's C++ start-up writes absl/CUDA notes straight to fd 2, past Python's logging."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


with _native_stderr_silenced():
    import keras

_configured = False


def configure(seed: int) -> None:
    """Seed every generator; on TensorFlow also make ops deterministic and let GPU memory grow."""
    global _configured
    keras.utils.set_random_seed(seed)
    if _configured:
        return
    _configured = True
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf  # switches Keras does not expose

        with _native_stderr_silenced():  # "failed call to cuInit" on machines without a GPU
            gpus = tf.config.list_physical_devices("GPU")
        for gpu in gpus:
            tf.config.experimental.set_memory_growth(gpu, True)
        tf.config.experimental.enable_op_determinism()


def free_memory() -> None:
    """Drop Keras' global state between folds and trials; many trials share one worker process."""
    import gc

    keras.backend.clear_session()
    gc.collect()
