"""Shared by the benchmarks: the machine they ran on, demo data drawn from the real metadata, the JSON line."""

from __future__ import annotations

import json
import os
import platform
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as `python bench/NAME.py` from a checkout
SHARED_DATA = Path(os.environ.get("DFU_SHARED_DATA", REPO.parent / "shared" / "data"))
REAL_CSV = SHARED_DATA / "DataMaster_Processed_V12_WithMissing.csv"
WORK = Path(os.environ.get("DFU_BENCH_DIR", REPO / "bench" / ".work"))


def machine() -> dict:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpus = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    return {"cpu": cpu, "cores": len(os.sched_getaffinity(0)), "python": platform.python_version(), "gpus": gpus}


def gpu_memory() -> dict | None:
    """Peak and limit bytes of the first GPU the Keras backend computes on, for this process; None on a CPU.

    JAX reports its allocator's peak (exact when ``XLA_PYTHON_CLIENT_PREALLOCATE=false``; with
    preallocation the process holds more than it uses), TensorFlow its own.
    """
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        if not gpus:
            return None
        stats = gpus[0].memory_stats() or {}
        return {"peak_bytes": stats.get("peak_bytes_in_use"), "limit_bytes": stats.get("bytes_limit")}
    if backend == "tensorflow":
        import tensorflow as tf

        if not tf.config.list_physical_devices("GPU"):
            return None
        return {"peak_bytes": tf.config.experimental.get_memory_info("GPU:0")["peak"], "limit_bytes": None}
    return None


def real_demo_data(visits: int | None, shots: int, seed: int = 0) -> Path:
    """Synthetic images for the real metadata's visits and labels (all visits, or whole patients up to ``visits``).

    Built once per (visits, shots, seed) under ``bench/.work``; the real CSV is read, never copied into the repo.
    """
    from demodata import GENERATOR_VERSION, write_demo_data

    if not REAL_CSV.is_file():
        sys.exit(f"error: the real metadata is not at {REAL_CSV} (set DFU_SHARED_DATA)")
    folder = WORK / f"data-v{GENERATOR_VERSION}-{visits or 'all'}-{shots}shot-{seed}"
    if (folder / "data").is_dir():
        return folder / "data"
    folder.mkdir(parents=True, exist_ok=True)
    source = REAL_CSV
    if visits:
        frame = pd.read_csv(REAL_CSV, encoding="utf-8-sig", low_memory=False)
        patients = frame["Patient#"].drop_duplicates().sample(frac=1.0, random_state=seed).to_numpy()
        sizes = frame.groupby("Patient#").size()
        keep = patients[np.cumsum(sizes.loc[patients].to_numpy()) <= visits]
        source = folder / "subset.csv"
        frame[frame["Patient#"].isin(keep)].to_csv(source, index=False)
    # Drawn beside, then renamed: an interrupted draw never leaves a half-written folder to be reused.
    partial = folder / "data.partial"
    shutil.rmtree(partial, ignore_errors=True)
    write_demo_data(partial, from_metadata=source, seed=seed, shots_per_visit=shots)
    partial.rename(folder / "data")
    return folder / "data"


def dfu_command(*args: object) -> list[str]:
    """``dfu-search ARGS`` as this checkout runs it (``python -m search``)."""
    return [sys.executable, "-m", "search", *map(str, args)]


def shown(command: list[str]) -> str:
    """A command as a user would type it."""
    return " ".join(shlex.quote(str(c)) for c in command).replace(sys.executable + " -m search", "dfu-search")


def run_timed(command: list[str], log: Path | None = None) -> float:
    """Run a command as a user would (its output to ``log``); returns its CPU seconds (with its children)."""
    print(f"$ {shown(command)}", flush=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(log, "w") if log else open("/dev/null", "w") as sink:
        code = subprocess.run(command, stdout=sink, stderr=subprocess.STDOUT, cwd=REPO).returncode
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if code != 0:
        sys.exit(f"error: command failed with exit {code} (log: {log})")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def timed(function, *args, **kwargs) -> float:
    """Seconds one call of ``function`` takes (its result is not needed)."""
    started = time.perf_counter()
    function(*args, **kwargs)
    return time.perf_counter() - started


def emit(result: dict, out: Path | None) -> None:
    """The benchmark's one JSON line on stdout (and in ``out`` when given)."""
    line = json.dumps(result, sort_keys=False, default=float)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(line + "\n")
    print(line, flush=True)


#: XLA's autotuner on a virtual GPU repeats this warning hundreds of times; it hides the real output.
_NOISE = ("cuda_timer.cc", "please investigate in Nsight")


def run_command(
    command: list[str], timeout: float, env: dict | None = None, log_file: Path | None = None
) -> tuple[int, str]:
    """Run ``command`` from the repository in its own process group; returns (exit code, output tail).

    On timeout the group gets SIGTERM (a launcher then stops its workers in order), SIGKILL 30 s
    later, and the code is 124.
    """
    process = start_command(command, env, log_file)
    return finish_command(process, timeout, log_file)


def start_command(command: list[str], env: dict | None = None, log_file: Path | None = None) -> subprocess.Popen:
    sink = open(log_file, "w") if log_file else subprocess.PIPE  # noqa: SIM115  (the child holds it)
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)  # fmt: skip
    if log_file:
        sink.close()
    return process


def finish_command(process: subprocess.Popen, timeout: float, log_file: Path | None = None) -> tuple[int, str]:
    """Wait up to ``timeout`` s for a :func:`start_command` process (then stop it); returns (code, output tail)."""
    try:
        out, _ = process.communicate(timeout=max(timeout, 0.1))
        code = process.returncode
    except subprocess.TimeoutExpired:
        stop_group(process)
        out, _ = process.communicate()
        code = 124
    if log_file:
        out = log_file.read_text(errors="replace")
    kept = [line for line in (out or "").splitlines() if not any(noise in line for noise in _NOISE)]
    return code, "\n".join(kept)[-3000:]


def stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the process's group, SIGKILL it if still there 30 s later."""
    for sig, grace in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        if process.poll() is not None:
            return
