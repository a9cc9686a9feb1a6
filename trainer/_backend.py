"""Backend set-up kept in one place, so model, loss and metric code only ever imports ``keras``.

Importing this module imports Keras (and so TensorFlow on the default backend): only the training
path does, never the CLI's start-up, storage or query code.
"""

from __future__ import annotations

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

        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)
        tf.config.experimental.enable_op_determinism()


def free_memory() -> None:
    """Drop Keras' global state between folds and trials; many trials share one worker process."""
    import gc

    keras.backend.clear_session()
    gc.collect()
