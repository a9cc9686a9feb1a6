"""Everything the benchmarks share, in one place: the machine they ran on, demo data drawn from the real metadata,
the JSON line, running commands, CPU seconds and memory from /proc, the fusion model on random rows (throughput,
epoch start) and the tests' PostgreSQL server with the recorded curves the load benchmarks replay."""

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


# --- CPU seconds and memory of processes, read from /proc (Linux; no psutil needed) ---

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()  # fields from "state" on; the name may hold spaces


def cpu_seconds(pid: int, reaped: bool = False) -> float:
    """User + system CPU seconds of ``pid`` (``reaped``: also of its children it has waited for)."""
    try:
        fields = _stat(pid)
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if reaped:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / _TICK


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(_stat(int(entry.name))[1]) == pid:
                    found.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
                continue
    return found


def process_tree_cpu(pid: int) -> float:
    """CPU seconds of a server process, its live children and the children it has reaped (PostgreSQL's
    backends come and go; the postmaster reaps them, so their time lands in its cutime)."""
    return cpu_seconds(pid, reaped=True) + sum(cpu_seconds(child) for child in children(pid))


def memory_kb(pid: int) -> dict[str, int]:
    """RSS and PSS of ``pid`` in kB (PSS: shared pages divided among the processes that map them)."""
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("Rss", "Pss", "Shared_Clean", "Private_Dirty"):
            values[key.lower()] = int(rest.split()[0])
    return values


# --- the fusion model on random rows: what bench/throughput.py and bench/epoch_start.py train to time epochs ---

IMAGE_MODALITIES = ("depth_rgb", "thermal_map")


def parse_case(text: str) -> tuple[str, int, str]:
    """``backbone@size[:precision]`` → (backbone, size, precision)."""
    name, _, precision = text.partition(":")
    backbone, _, size = name.partition("@")
    return backbone, int(size), precision or "float32"


def random_rows(n: int, size: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """``n`` rows of uint8 images per modality and RF probabilities, with labels: only their shapes matter."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    inputs = {m: rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8) for m in IMAGE_MODALITIES}
    inputs["rf_probs"] = rng.dirichlet([1, 1, 1], n).astype("float32")
    return inputs, labels


def configure(precision: str, jit_compile: bool | str = "auto", deterministic: bool | str = "auto") -> None:
    """A fresh backend state under the given precision, as the trainer sets one up before each fold."""
    from trainer import _backend
    from trainer.model import free_memory

    free_memory()
    _backend.configure(0, precision, deterministic, jit_compile)


def fusion_model(backbone: str, size: int, precision: str):
    """The trainer's fusion network (RF probabilities + two image branches), uncompiled."""
    from trainer.config import TrainConfig
    from trainer.model import build_fusion_model, build_image_branches

    config = TrainConfig(backbone=backbone, image_size=size, precision=precision)
    branches = build_image_branches(config, IMAGE_MODALITIES)
    return build_fusion_model(branches, config)


# --- the load benchmarks (bench/scale.py and its parts): the curves simulated workers replay, a PostgreSQL server ---

CURVES = REPO / "bench" / "results" / "pruning-v2-curves-seed0.json.gz"


def postgres_server(max_connections: int):
    """The tests' PostgreSQL server (initdb + pg_ctl, run as postgres), started with ``max_connections``."""
    sys.path.insert(0, str(REPO / "tests"))
    from _postgres import PostgresServer

    return PostgresServer.start(max_connections=max_connections)


# --- a live study on the calibrated demo data (bench/pruning.py live, bench/pretrain_store.py) ---

#: The recordings' settings over the quick preset: 32 px images, 100 trees; one calibrated shot a visit, 3 folds.
RECORD_SETS = ("image_size=32", "rf_trees=100")
SHOTS = 1
FOLDS = 3


def warm_caches(data: Path, cache: Path) -> None:
    """Preprocessed images and each fold's RF probabilities, built once before either arm."""
    from trainer import load_config, prepare

    config = load_config("quick", None, list(RECORD_SETS) + [f"folds={FOLDS}"])
    prepare(data, config, cache)
    run_timed(dfu_command("train", "--data", str(data), "--modalities", "metadata", "--folds", str(FOLDS), "--preset", "quick",
              *(a for s in RECORD_SETS for a in ("--set", s)), "--cache-dir", str(cache),
              "--out", str(cache.with_name(cache.name + "-warm-run"))))  # fmt: skip


def _degenerate(trials: list) -> dict:
    """The enqueued ``degenerate`` trial's outcome, if the study has one."""
    trial = next((t for t in trials if t.user_attrs.get("enqueued") == "degenerate"), None)
    if trial is None:
        return {}
    return {"degenerate": {"state": trial.state.name, "epochs_trained": trial.user_attrs.get("epochs_trained"),
                           "value": trial.value, "prune_reason": trial.user_attrs.get("prune_reason")}}  # fmt: skip


def study_summary(name: str, db: Path) -> dict:
    import optuna

    study = optuna.load_study(study_name=name, storage=f"sqlite:///{db}")
    trials = study.trials
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    rules: dict[str, int] = {}
    for t in finished:
        if t.state.name == "PRUNED":
            rule = (t.user_attrs.get("prune_reason") or {}).get("rule", "?")
            rules[rule] = rules.get(rule, 0) + 1
    settings = study.user_attrs.get("dfu_search", {})
    return {
        "pruner": settings.get("pruner"),
        "rules": bool((settings.get("rules") or {}).get("enabled")),
        "trials": len(finished),
        "pruned": sum(t.state.name == "PRUNED" for t in finished),
        "prunes_by_rule": rules,
        "epochs": sum(int(t.user_attrs.get("epochs_trained", 0)) for t in finished),
        "best_qwk": max((t.value for t in finished if t.value is not None), default=None),
        **_degenerate(trials),
    }
