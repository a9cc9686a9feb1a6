"""Backend set-up kept in one place, so model, loss and metric code only ever imports ``keras``.

Importing this module imports Keras (and so TensorFlow on the default backend): only the training
path does, never the CLI's start-up, storage or query code.

A process that was given a GPU (a non-empty ``CUDA_VISIBLE_DEVICES``) shows the backend's CUDA
messages, so a library that fails to load is seen; a CPU process keeps TensorFlow's probe notes
("failed call to cuInit", …) out of its log.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import platform
import re
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def gpu_requested() -> bool:
    """Whether this process was meant to use a GPU: ``CUDA_VISIBLE_DEVICES`` names one."""
    return os.environ.get("CUDA_VISIBLE_DEVICES", "").strip() not in ("", "-1")


@contextlib.contextmanager
def _cpu_start_up_quiet():
    """TensorFlow's C++ start-up writes absl/CUDA notes straight to fd 2, past Python's logging."""
    if gpu_requested():  # then those notes are the only word on a CUDA library that failed to load
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class _NoRetracingNote(logging.Filter):
    """TensorFlow's "N out of the last N calls ... triggered tf.function retracing" note: each saved fold network
    traces its own predict step (``predict`` applies several), which is expected here and not worth a warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


logging.getLogger("tensorflow").addFilter(_NoRetracingNote())

# TensorFlow reads its C++ log level once, when it loads: errors only with a GPU, nothing on a CPU.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2" if gpu_requested() else "3")
with _cpu_start_up_quiet():
    import keras


def gpu_devices() -> list[str]:
    """The GPUs the Keras backend can compute on (names as the backend gives them)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with _cpu_start_up_quiet():
            return [d.name for d in tf.config.list_physical_devices("GPU")]
    if backend == "jax":
        import jax

        return [str(d) for d in jax.devices() if d.platform == "gpu"]
    if backend == "torch":
        import torch

        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return []


def resolve_precision(precision: str, on_gpu: bool) -> str:
    """The Keras dtype policy for a ``precision`` setting: ``mixed`` is float16 on a GPU, bfloat16 elsewhere.

    float16 needs loss scaling (Keras wraps the optimizer) and is the tensor-core path NVIDIA
    benchmarks; on a CPU float16 is emulated and slow, while bfloat16 has native kernels.
    """
    if precision == "mixed":
        return "mixed_float16" if on_gpu else "mixed_bfloat16"
    return precision


_tf_configured = False


def configure(
    seed: int, precision: str = "float32", deterministic: bool | str = "auto", jit_compile: bool | str = "auto"
) -> str:
    """Seed every generator, set the dtype policy and kernel determinism; returns the policy's name.

    Called before each fold's models are built: the policy is global in Keras, and trials that share
    a worker process may ask for different ones.
    """
    keras.utils.set_random_seed(seed)
    on_gpu = bool(gpu_devices())
    policy = resolve_precision(precision, on_gpu)
    keras.config.set_dtype_policy(policy)
    exact = _exact_kernels(deterministic, jit_compile, on_gpu)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        _configure_tensorflow(exact)
    elif backend == "torch":
        import torch

        torch.use_deterministic_algorithms(exact, warn_only=True)
    elif backend == "jax" and exact and on_gpu and "xla_gpu_deterministic_ops" not in os.environ.get("XLA_FLAGS", ""):
        log.warning("deterministic = true on JAX needs XLA_FLAGS=--xla_gpu_deterministic_ops=true before JAX starts")
    return policy


def _exact_kernels(deterministic: bool | str, jit_compile: bool | str, on_gpu: bool) -> bool:
    """auto: exact kernels on a CPU, where they cost little, unless XLA was asked for (the two exclude each other
    on TensorFlow); fast kernels on a GPU."""
    return not on_gpu and jit_compile is not True if deterministic == "auto" else bool(deterministic)


@functools.cache
def device_kind() -> str:
    """What this process computes on, as one string: the first GPU's model (``NVIDIA H100 80GB HBM3``) or
    ``cpu x86_64``. Settings such as ``precision = "mixed"`` mean different computations on different kinds."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        return f"{device.platform} {device.device_kind}" if device.platform != "cpu" else f"cpu {platform.machine()}"
    gpus = gpu_devices()
    if not gpus:
        return f"cpu {platform.machine()}"
    if backend == "tensorflow":  # its device names are /physical_device:GPU:0: the model is in the details
        import tensorflow as tf

        details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])
        return f"gpu {details.get('device_name', 'unknown')}"
    return f"gpu {gpus[0]}"


def resolved_settings(model: keras.Model, precision: str, deterministic: bool | str, jit_compile: bool | str) -> dict:
    """What the precision, determinism and XLA settings mean for ``model`` in this process (``"auto"`` and
    ``"mixed"`` resolved, as :func:`configure` and Keras' ``compile`` resolve them), and the device kind."""
    on_gpu = bool(gpu_devices())
    if jit_compile == "auto":
        xla = model._resolve_auto_jit_compile()  # Keras' own rule: the backend, the device, every layer's support
    else:
        from keras.src.trainers.trainer import model_supports_jit

        xla = bool(jit_compile) and model_supports_jit(model)  # Keras turns an unsupported True off
    return {
        "precision": resolve_precision(precision, on_gpu),
        "deterministic": _exact_kernels(deterministic, jit_compile, on_gpu),
        "jit_compile": bool(xla),
        "device": device_kind(),
    }


def _configure_tensorflow(exact: bool) -> None:
    import tensorflow as tf  # switches Keras does not expose

    global _tf_configured
    if not _tf_configured:  # memory growth can only be set before the GPUs are first used
        _tf_configured = True
        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)  # several workers may share one GPU
    # Determinism also switches XLA off in Keras (model_supports_jit), so it is a real speed knob.
    if exact:
        tf.config.experimental.enable_op_determinism()
    else:  # the public API can only switch it on
        from tensorflow.python.framework import config as tf_config

        tf_config.disable_op_determinism()


def use_compilation_cache(cache_dir: Path) -> Path | None:
    """On JAX, keep XLA's compiled programs under ``cache_dir`` so that a process started later (the next
    worker, ``dfu-search train``) loads what another one compiled instead of compiling it again; None elsewhere
    (TensorFlow's graph tracing has no cache across processes).

    JAX keys every entry by the program, the compile options, the XLA flags, jaxlib's version and the
    platform's and device's kind; the folder name repeats the versions and the device kind, so that one
    cache folder shared by several hosts (the README suggests it) keeps each kind of machine apart, and a
    user can see and remove one kind's entries.
    """
    if keras.backend.backend() != "jax":
        return None
    import jax
    import jaxlib

    device = jax.devices()[0]
    kind = re.sub(r"[^A-Za-z0-9.]+", "-", f"{device.platform}-{device.device_kind}").strip("-")
    folder = Path(cache_dir) / "xla" / f"jax-{jax.__version__}-jaxlib-{jaxlib.__version__}-{kind}"
    if jax.config.jax_compilation_cache_dir != str(folder):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a read-only or full cache folder: compile as if there were none
            log.warning("no compilation cache at %s (%s)", folder, exc)
            return None
        jax.config.update("jax_compilation_cache_dir", str(folder))
        # Every program: a small CNN's steps compile in well under JAX's default 1 s threshold, yet a
        # trial compiles dozens of them.
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    return folder


def reseed(seed: int) -> None:
    """Seed Python, NumPy and the backend's generators (TensorFlow's op-seed counter starts again too)."""
    keras.utils.set_random_seed(seed)
