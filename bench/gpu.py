"""The GPU path measured in one command, within a time budget: compile against reuse, throughput per backbone and
precision, and a live study.

Run by ``bench/gpu.sh`` (which installs the carried wheels first) on a GPU machine that may be lent
for minutes and has no network. Steps, each with a deadline inside ``--budget``; what no longer fits
is skipped and said so:

1. the device, driver and library versions, and whether the Keras backend (JAX) sees the GPU;
2. epoch times (``_gpu_epochs``): one process trains three folds of EfficientNetB0@128 and then the same
   again, as a worker's second trial; each stage's first epoch in fold 0 (tracing and XLA compiling)
   against its first epoch in later folds (XLA compiles again for other batch shapes) and its steady
   epochs, the second trial's first epochs (models compiled once per process: nothing to compile),
   both trials' wall time, and GPU utilisation. First, since an earlier loan measured the
   throughput cases already;
3. ``bench/throughput.py`` on EfficientNetB0@128, DenseNet121@128 and EfficientNetB3@256, float32 and
   mixed (float16 compute, loss scaling), XLA on (Keras' default on JAX); EfficientNetB0 with XLA
   off, and at batch 256 (NVIDIA's reference batch): images/s of the trainer and of a bare ``fit``,
   the trainer's overhead in wall time, and each case's peak GPU memory. The cases compile side by
   side and are timed one at a time (``_gpu_cases``);
4. a live study — ``dfu-search launch --workers 2 --workers-per-gpu 2``, quick preset, demo data,
   SQLite — with ``nvidia-smi`` sampled every second: seconds per trial, each worker's GPU memory,
   and whether both workers computed on the GPU (``_gpu_study``).

The JSON file is written again after every step, so a run cut short still leaves what it measured.
``--cpu`` is the dry run: the same steps at tiny sizes on this CPU, so a broken script is found here.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from _common import REPO, run_command
from _gpu_cases import CPU_CASES, GPU_CASES, describe, run_wave
from _gpu_epochs import CPU_EPOCHS, GPU_EPOCHS, epoch_times
from _gpu_study import CPU_STUDY, GPU_STUDY, live_study

log = logging.getLogger("gpu")
#: Environment settings that change what is measured; recorded with the figures.
RECORDED_SETTINGS = ("KERAS_BACKEND", "XLA_PYTHON_CLIENT_PREALLOCATE", "XLA_FLAGS", "CUDA_VISIBLE_DEVICES")


@dataclass
class Run:
    """What the command measured so far; written out after every step."""

    out: Path
    deadline: float
    result: dict = field(default_factory=dict)

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def save(self) -> None:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.out.write_text(json.dumps(self.result, indent=1, default=str) + "\n")


_ENVIRONMENT = r"""
import json, importlib.metadata as md
import keras
from trainer import _backend
out = {"backend": keras.backend.backend(), "versions": {}, "backend_gpus": _backend.gpu_devices()}
for name in ("jax", "jaxlib", "keras", "optuna", "numpy", "scikit-learn", "pandas", "sqlalchemy", "tensorflow"):
    try:
        out["versions"][name] = md.version(name)
    except md.PackageNotFoundError:
        pass
print("ENV " + json.dumps(out))
"""


def environment(on_gpu: bool) -> dict:
    """The machine, the GPU and driver (nvidia-smi), the Python libraries and what the Keras backend sees."""
    found: dict = {"python": platform.python_version(), "cpu_cores": os.cpu_count(), "dry_run_on_cpu": not on_gpu}
    if on_gpu:
        code, out = run_command(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"], 30
        )
        if code == 0 and out.strip():
            name, driver, memory = (part.strip() for part in out.strip().splitlines()[0].split(","))
            found.update(gpu=name, driver=driver, gpu_memory_total=memory)
        _, out = run_command(["nvidia-smi"], 30)
        cuda = [line for line in out.splitlines() if "CUDA Version" in line]
        found["cuda"] = cuda[0].split("CUDA Version:")[1].strip(" |") if cuda else None
    _, out = run_command([sys.executable, "-c", _ENVIRONMENT], 120)
    lines = [line for line in out.splitlines() if line.startswith("ENV ")]
    if not lines:
        raise RuntimeError(f"the Keras backend did not start:\n{out}")
    found.update(json.loads(lines[-1][4:]))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu", action="store_true", help="dry run on this CPU at tiny sizes")
    parser.add_argument("--budget", type=float, default=470, help="seconds for all steps (default: 470)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / ".work" / "gpu.json", help="the JSON file")
    parser.add_argument("--work", type=Path, default=REPO / "bench" / ".work" / "gpu", help="scratch folder")
    parser.add_argument("--cases", help="only these throughput cases: indices into the list, comma-separated")
    parser.add_argument("--wave", type=int, help="cases compiled side by side (default: all on a GPU, 2 on a CPU)")
    parser.add_argument("--skip-study", action="store_true", help="no live study")
    parser.add_argument("--skip-epochs", action="store_true", help="no epoch times (compiling against reuse)")
    parser.add_argument("--trials", type=int, help="the live study's trials (default: 4 on a GPU, 2 on a CPU)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stdout)
    on_gpu = not args.cpu
    cases = GPU_CASES if on_gpu else CPU_CASES
    if args.cases:
        cases = tuple(cases[int(i)] for i in args.cases.split(","))
    wave = args.wave or (len(cases) if on_gpu else 2)
    study = GPU_STUDY if on_gpu else CPU_STUDY
    if args.trials:
        study = replace(study, trials=args.trials)
    run = Run(args.out, time.monotonic() + args.budget)
    args.work.mkdir(parents=True, exist_ok=True)
    run.result = {"bench": "gpu", "budget_s": args.budget, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "settings": {k: os.environ.get(k) for k in RECORDED_SETTINGS}, "cases": [], "skipped": []}  # fmt: skip

    log.info("environment …")
    try:
        run.result["environment"] = environment(on_gpu)
    except Exception as exc:  # noqa: BLE001  (the JSON says what broke; nothing else can run)
        run.result["environment"] = {"error": str(exc)[-3000:]}
        run.save()
        log.error("environment failed: %s", exc)
        sys.exit(1)
    log.info("%s", json.dumps(run.result["environment"]))
    run.save()
    if on_gpu and not run.result["environment"].get("backend_gpus"):
        log.error("the Keras backend sees no GPU: nothing here would measure the GPU path")
        sys.exit(1)

    reserve = 0 if args.skip_study else study.cap_s  # the study runs last, on what the cases leave
    if not args.skip_epochs:
        plan = GPU_EPOCHS if on_gpu else CPU_EPOCHS
        timeout = min(plan.cap_s, run.left() - reserve)
        if timeout < 45:
            run.result["skipped"].append("epochs")
        else:
            log.info("epoch times: %s@%d, %d folds, two trials (deadline %.0f s) …", plan.backbone, plan.image_size,
                     plan.folds, timeout)  # fmt: skip
            try:
                run.result["epochs"] = epoch_times(plan, timeout, args.work, on_gpu)
            except Exception as exc:  # noqa: BLE001  (recorded; the other steps still run)
                run.result["epochs"] = {"error": repr(exc)[-3000:]}
            log.info("  %s", json.dumps(run.result["epochs"])[:2000])
            run.save()
    for start in range(0, len(cases), wave):
        batch = cases[start : start + wave]
        deadline = run.left() - reserve
        if deadline < 60:
            run.result["skipped"] += [f"{c.spec} b{c.batch} jit {c.jit_compile}" for c in batch]
            log.info("skipped %d cases: %.0f s left", len(batch), run.left())
            continue
        log.info("%d cases side by side (deadline %.0f s) …", len(batch), deadline)
        run.result["cases"] += run_wave(batch, deadline, args.work, progress=lambda line: log.info("  %s", line))
        run.save()
    if not args.skip_study:
        timeout = min(study.cap_s, run.left())
        if timeout < 45:
            run.result["skipped"].append("study")
        else:
            log.info("live study: %d workers, %d trials (deadline %.0f s) …", study.workers, study.trials, timeout)
            try:
                run.result["study"] = live_study(study, timeout, args.work, on_gpu)
            except Exception as exc:  # noqa: BLE001  (recorded; the figures so far still count)
                run.result["study"] = {"error": repr(exc)[-3000:]}
            log.info("  %s", json.dumps({k: v for k, v in run.result["study"].items() if k != "launch_tail"}))
    run.result["total_s"] = round(args.budget - run.left(), 1)
    run.save()
    failed = [describe(c).split(":")[0] for c in run.result["cases"] if "error" in c]
    failed += ["epochs"] if "error" in run.result.get("epochs", {}) else []
    failed += (
        ["study"] if "error" in run.result.get("study", {}) or run.result.get("study", {}).get("launch_exit") else []
    )
    log.info("wrote %s: %d cases measured, %d skipped; failed: %s", args.out,
             sum("error" not in c for c in run.result["cases"]), len(run.result["skipped"]), ", ".join(failed) or "none")  # fmt: skip
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
