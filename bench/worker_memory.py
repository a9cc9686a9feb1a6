"""Memory of workers sharing a machine: RSS and PSS per worker with 1, 2 and 4 workers, before and after the
image cache was memory-mapped.

    python bench/worker_memory.py                      # → bench/results/worker-memory.json (about 20 min here)
    python bench/worker_memory.py --before REV         # the "before" arm from commit REV (a git worktree)

Each worker is a real ``dfu-search train`` (quick preset at ``image_size`` 128 or 256 px, 3 folds, the 890
visits of the real metadata with three calibrated shots a visit: ~2,670 image rows a modality, as the real
data has) started together with the others; every half second the benchmark reads each one's RSS and PSS
from ``/proc/PID/smaps_rollup`` and keeps the peak over ``--seconds`` (the first fold's pre-training). PSS
divides a shared page among the processes that map it: the memory a worker really adds. Both arms read the
same image and RandomForest caches, built before either.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, WORK, emit, machine, memory_kb, real_demo_data

RESULTS = REPO / "bench" / "results"
SHOTS = 3
log = logging.getLogger("worker_memory")


def _train(checkout: Path, data: Path, size: int, cache: Path, out: Path, epochs: str = "8,6,4") -> list[str]:
    pretrain, stage1, stage2 = epochs.split(",")
    return [sys.executable, "-m", "search", "train", "--data", str(data), "--preset", "quick", "--folds", "3",
            "--set", f"image_size={size}", "--set", f"epochs_pretrain={pretrain}", "--set", f"epochs_stage1={stage1}",
            "--set", f"epochs_stage2={stage2}", "--no-pretrain-cache", "--cache-dir", str(cache), "--out", str(out)]  # fmt: skip


def measure(checkout: Path, data: Path, size: int, workers: int, cache: Path, seconds: float) -> dict:
    env = {**os.environ, "PYTHONPATH": str(checkout), "TF_CPP_MIN_LOG_LEVEL": "3"}
    with tempfile.TemporaryDirectory() as tmp:
        processes = [subprocess.Popen(_train(checkout, data, size, cache, Path(tmp) / f"w{i}"), cwd=checkout, env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
                     for i in range(workers)]  # fmt: skip
        peaks = [{"rss": 0, "pss": 0, "private_dirty": 0} for _ in processes]
        started = time.time()
        while time.time() - started < seconds and any(p.poll() is None for p in processes):
            for process, peak in zip(processes, peaks):
                try:
                    now = memory_kb(process.pid)
                except (FileNotFoundError, ProcessLookupError):
                    continue
                for key in peak:
                    peak[key] = max(peak[key], now.get(key, 0))
            time.sleep(0.5)
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    mb = lambda kb: round(kb / 1024, 1)  # noqa: E731
    return {
        "workers": workers,
        "image_size": size,
        "rss_mb_per_worker": mb(sum(p["rss"] for p in peaks) / workers),
        "pss_mb_per_worker": mb(sum(p["pss"] for p in peaks) / workers),
        "private_dirty_mb_per_worker": mb(sum(p["private_dirty"] for p in peaks) / workers),
        "pss_mb_all_workers": mb(sum(p["pss"] for p in peaks)),
    }


def _worktree(rev: str) -> Path:
    path = WORK / f"worktree-{rev[:12]}"
    if not path.is_dir():
        subprocess.run(["git", "worktree", "add", "--detach", str(path), rev], cwd=REPO, check=True,
                       capture_output=True)  # fmt: skip
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="128,256")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--seconds", type=float, default=75.0)
    parser.add_argument("--before", default=None, help="commit of the 'before' arm (default: none, after only)")
    parser.add_argument("--out", type=Path, default=RESULTS / "worker-memory.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    data = real_demo_data(None, SHOTS, 0)
    cache = WORK / "memory-cache"
    arms = {"after": REPO}
    if args.before:
        arms = {"before": _worktree(args.before), **arms}
    sizes = [int(s) for s in args.sizes.split(",")]
    for size in sizes:  # the image and RandomForest caches, built once for both arms
        log.info("building the caches at %d px", size)
        subprocess.run(_train(REPO, data, size, cache, WORK / "memory-warmup", "1,0,0"), cwd=REPO, check=True,
                       env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True)  # fmt: skip
    rows = []
    for arm, checkout in arms.items():
        for size in sizes:
            for workers in (int(w) for w in args.workers.split(",")):
                row = {"arm": arm, **measure(checkout, data, size, workers, cache, args.seconds)}
                log.info("%s", row)
                rows.append(row)
    if args.before:  # a checkout inside the repository's folder would be scanned by the lint tests
        subprocess.run(["git", "worktree", "remove", "--force", str(arms["before"])], cwd=REPO, check=False)
    emit({"bench": "worker-memory", "machine": machine(), "shots": SHOTS, "seconds": args.seconds,
          "before": args.before, "rows": rows}, args.out)  # fmt: skip


if __name__ == "__main__":
    main()
