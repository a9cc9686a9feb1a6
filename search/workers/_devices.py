"""Which devices local workers get: GPUs (one worker each, or several sharing one) or shares of the CPU cores.

GPU ids come from ``--gpus``, else an inherited ``CUDA_VISIBLE_DEVICES`` (SLURM, containers: the
devices this process was given), else ``nvidia-smi``. An id is an index (``0``) or a GPU/MIG UUID
(``GPU-…``, ``MIG-…``), exactly as ``CUDA_VISIBLE_DEVICES`` accepts them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from trainer import ConfigError

_GPU_ID = re.compile(r"^(\d+|GPU-[0-9a-fA-F-]+|MIG-[0-9a-zA-Z/-]+)$")


@dataclass(frozen=True)
class WorkerSlot:
    """Where local worker ``index`` runs: on ``gpu``, or on the CPU cores ``cores``; its log file."""

    index: int
    gpu: str | None
    cores: tuple[int, ...]
    log_path: Path
    shared_by: int = 1  # workers on this slot's GPU

    @property
    def device(self) -> str:
        return f"GPU {self.gpu}" if self.gpu is not None else f"CPU {','.join(map(str, self.cores))}"

    def environment(self, inherited: dict[str, str]) -> dict[str, str]:
        """The worker's environment: ``inherited`` with only this slot's device visible.

        Workers sharing a GPU must not each claim it whole: TensorFlow grows its memory on demand,
        and JAX (which takes 75 % of a GPU at start) gets an equal share. Memory settings already
        in ``inherited`` win.
        """
        env = dict(inherited)
        if self.gpu is None:
            threads = str(len(self.cores))
            env.update(CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS=threads, TF_NUM_INTRAOP_THREADS=threads,
                       TF_NUM_INTEROP_THREADS="1")  # fmt: skip
            return env
        env["CUDA_VISIBLE_DEVICES"] = self.gpu
        env.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
        if self.shared_by > 1:
            env.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", f"{0.9 / self.shared_by:.2f}")
        return env


def parse_gpus(text: str, option: str = "--gpus") -> list[str]:
    """``--gpus 0,1`` or UUIDs → ids; an ``error:`` for anything CUDA_VISIBLE_DEVICES would not take."""
    ids = [part.strip() for part in text.split(",")]
    bad = [part for part in ids if not _GPU_ID.match(part)]
    if bad or not ids:
        raise ConfigError(
            f"{option} {text!r}: {', '.join(repr(b) for b in bad) or 'empty'} is not a GPU id "
            "(an index such as 0, or a GPU-/MIG- UUID from nvidia-smi -L)"
        )
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{option} {text!r}: a GPU is named twice (use --workers-per-gpu to share one)")
    return ids


def detect_gpus() -> list[str]:
    """The GPUs this process may use: an inherited ``CUDA_VISIBLE_DEVICES`` wins over ``nvidia-smi``."""
    inherited = os.environ.get("CUDA_VISIBLE_DEVICES")
    if inherited is not None:
        ids = [part.strip() for part in inherited.split(",") if part.strip()]
        return [] if ids in ([], ["-1"]) else ids
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip().isdigit()]


def usable_cores() -> list[int]:
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))


def capacity(gpus: list[str], workers_per_gpu: int = 1) -> tuple[int, str]:
    """How many local workers this machine holds, and why: one per GPU (times sharing), else one per core."""
    if gpus:
        return len(gpus) * workers_per_gpu, f"{len(gpus)} GPU(s) × {workers_per_gpu} worker(s) each"
    cores = len(usable_cores())
    return cores, f"{cores} CPU core(s)"


def plan_workers(n: int, gpus: list[str], log_dir: Path, workers_per_gpu: int = 1) -> list[WorkerSlot]:
    """GPUs in turn (``workers_per_gpu`` on each); without GPUs, the CPU cores split evenly (a worker gets ≥ 1)."""
    cores = usable_cores()
    share = max(1, len(cores) // max(n, 1))
    slots = []
    for i in range(n):
        gpu = gpus[(i // workers_per_gpu) % len(gpus)] if gpus else None
        mine = () if gpus else tuple(cores[(i * share + k) % len(cores)] for k in range(share))
        slots.append(WorkerSlot(i, gpu, mine, log_dir / f"worker-{i}.log", workers_per_gpu if gpus else 1))
    return slots
