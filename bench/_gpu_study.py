"""``bench/gpu.py``'s live study: two workers sharing one GPU, with ``nvidia-smi`` sampled every second."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from _common import run_command


@dataclass(frozen=True)
class StudyPlan:
    """``workers`` sharing one GPU, ``trials`` of the quick preset on demo data."""

    workers: int = 2
    trials: int = 4
    folds: int = 2
    patients: int = 40
    shots: int = 2
    cap_s: int = 150  # measured on an H200: 82 s for 4 trials (JAX, XLA autotuner off)
    sets: tuple[str, ...] = ("batch_size=8",)  # on the quick preset


GPU_STUDY = StudyPlan()
#: The dry run: every stage still trains, for fewer epochs.
CPU_STUDY = StudyPlan(trials=2, patients=12, cap_s=300, sets=("batch_size=8", "epochs_pretrain=1", "epochs_stage1=1",
                                                              "epochs_stage2=1"))  # fmt: skip


class GpuSampler:
    """``nvidia-smi`` once a second: each process's GPU memory (its peak) and the GPU's utilisation."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.per_pid: dict[int, int] = {}  # MiB, peak
        self.utilization: list[int] = []
        self.memory_used: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> GpuSampler:
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._stop.set()
        if self.enabled:
            self._thread.join(10)

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            for pid, mib in _query("--query-compute-apps=pid,used_memory"):
                self.per_pid[int(pid)] = max(self.per_pid.get(int(pid), 0), int(mib))
            for utilization, used in _query("--query-gpu=utilization.gpu,memory.used"):
                self.utilization.append(int(utilization))
                self.memory_used.append(int(used))


def _query(what: str) -> list[list[str]]:
    try:
        out = subprocess.run(["nvidia-smi", what, "--format=csv,noheader,nounits"], capture_output=True, text=True,
                             timeout=10).stdout  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return []
    rows = [[part.strip() for part in line.split(",")] for line in out.splitlines() if line.strip()]
    return [row for row in rows if all(part.isdigit() for part in row)]


def live_study(plan: StudyPlan, timeout: float, work: Path, on_gpu: bool) -> dict:
    """Demo data, then ``dfu-search launch`` with the workers on one GPU; per-trial seconds from the study."""
    import optuna

    data, storage = work / "study-data" / "data", work / "study.db"
    storage.unlink(missing_ok=True)
    started = time.monotonic()
    if not data.is_dir():
        code, tail = run_command([sys.executable, "-m", "search", "demo-data", str(data), "--patients",
                                  str(plan.patients), "--shots", str(plan.shots)], timeout)  # fmt: skip
        if code != 0:
            return {"error": f"demo-data exit {code}", "output_tail": tail}
    data_s = round(time.monotonic() - started, 1)
    workers = ["--workers", str(plan.workers)] + (["--workers-per-gpu", str(plan.workers)] if on_gpu else [])
    command = [sys.executable, "-m", "search", "launch", "--study", "gpu", "--data", str(data), *workers,
               "--trials", str(plan.trials), "--preset", "quick", *(f"--set={s}" for s in plan.sets), "--folds", str(plan.folds),
               "--storage", f"sqlite:///{storage}", "--cache-dir", str(work / "cache"),
               "--log-dir", str(work / "logs"), "--artifacts", str(work / "artifacts")]  # fmt: skip
    started = time.monotonic()
    with GpuSampler(enabled=on_gpu) as sampler:
        code, tail = run_command(command, max(30.0, timeout - data_s), dict(os.environ), work / "launch.log")
    wall = round(time.monotonic() - started, 1)
    study = optuna.load_study(study_name="gpu", storage=f"sqlite:///{storage}")
    trials = [t for t in study.trials if t.datetime_complete is not None and t.datetime_start is not None]
    seconds = sorted(round((t.datetime_complete - t.datetime_start).total_seconds(), 1) for t in trials)
    workers_seen = [t.user_attrs["worker"] for t in trials if "worker" in t.user_attrs]
    pids = sorted({w["pid"] for w in workers_seen})
    devices = sorted({str(w["gpu"]) for w in workers_seen})
    result = {
        **asdict(plan), "launch_exit": code, "demo_data_s": data_s, "wall_s": wall,
        "trial_states": {state: sum(t.state.name == state for t in trials) for state in ("COMPLETE", "PRUNED", "FAIL")},
        "trial_seconds": seconds, "trial_seconds_median": seconds[len(seconds) // 2] if seconds else None,
        "epochs_trained": sorted(t.user_attrs.get("epochs_trained", 0) for t in trials),
        "worker_pids": pids, "worker_devices": devices,
        "best_value": study.best_value if any(t.state.name == "COMPLETE" for t in trials) else None,
        "launch_tail": tail[-1500:],
    }  # fmt: skip
    if code != 0 or not trials:  # what the workers said, for a run that cannot be repeated at once
        result["worker_log_tails"] = {
            log.name: log.read_text(errors="replace")[-1500:] for log in (work / "logs").glob("*.log")
        }
    if on_gpu:
        memory = {pid: sampler.per_pid.get(pid, 0) for pid in pids}
        result.update(
            gpu_memory_mib_per_worker=memory,
            gpu_processes_seen=sampler.per_pid,
            gpu_utilization_max=max(sampler.utilization, default=None),
            gpu_utilization_mean=round(sum(sampler.utilization) / len(sampler.utilization), 1)
            if sampler.utilization else None,
            gpu_memory_used_max_mib=max(sampler.memory_used, default=None),
            # each worker checked at start that the backend computes on its GPU (search.workers._worker.use_gpu),
            # ran trials, and held GPU memory while it did
            both_workers_on_gpu=len(pids) == plan.workers and "cpu" not in devices and all(memory.values()),
        )  # fmt: skip
    return result
