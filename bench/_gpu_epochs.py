"""``bench/gpu.py``'s epoch times: what compiling costs a trial on the device, and what compiling once saves.

One ``trainer.train`` run of several folds in one process (as a worker runs its trials), each epoch's wall
seconds taken from its report (``EpochReport.seconds``: training steps and validation). A stage's first
epoch in fold 0 traces and compiles its graph. On TensorFlow a later fold reuses it (the models are compiled
once per process, ``trainer.model._compiled``); on JAX, XLA compiles per shape, so a later fold whose row counts
give other partial-batch shapes compiles those again (the CPU dry run shows it: fold 1's first epochs cost
what fold 0's do). Then the same configuration again in the same process, as a worker's second trial, whose
folds repeat the first's shapes: it should compile nothing, its first epochs as short as steady ones.
``nvidia-smi`` is sampled meanwhile (GPU utilisation).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from _common import run_command
from _gpu_study import GpuSampler

from trainer.config import parse_assignment


@dataclass(frozen=True)
class EpochPlan:
    backbone: str = "efficientnetb0"
    image_size: int = 128
    folds: int = 3
    patients: int = 40
    sets: tuple[str, ...] = ("epochs_pretrain=4", "epochs_stage1=3", "epochs_stage2=3", "batch_size=16")
    cap_s: int = 240


GPU_EPOCHS = EpochPlan()
#: The dry run: the same steps with the small CNN at 32 px.
CPU_EPOCHS = EpochPlan(backbone="small", image_size=32, folds=2, patients=12, cap_s=240,
                       sets=("epochs_pretrain=2", "epochs_stage1=2", "epochs_stage2=2", "batch_size=8"))  # fmt: skip

_TRAIN = r"""
import json, sys, time
from pathlib import Path
from trainer import RunCallbacks, load_config, train

data, cache, sets = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3])
config = load_config("quick", overrides=sets)
# Every epoch runs (patience above the epochs): the same epochs in both trials.
for trial in (1, 2):
    epochs = []
    started = time.perf_counter()
    train(data, config, cache, callbacks=RunCallbacks(on_epoch=epochs.append), reuse_pretraining=False)
    wall = time.perf_counter() - started
    rows = [[r.fold, r.stage, r.epoch, round(r.seconds, 3)] for r in epochs]
    print("TRIAL " + json.dumps({"trial": trial, "wall_s": round(wall, 2), "epochs": rows}), flush=True)
"""


def epoch_times(plan: EpochPlan, timeout: float, work: Path, on_gpu: bool) -> dict:
    """Run :data:`_TRAIN` for ``plan``; per stage the first epoch of fold 0, of later folds and a steady epoch."""
    data = work / "epochs-data" / "data"
    started = time.monotonic()
    if not data.is_dir():
        code, tail = run_command([sys.executable, "-m", "search", "demo-data", str(data), "--patients",
                                  str(plan.patients), "--shots", "2"], timeout)  # fmt: skip
        if code != 0:
            return {"error": f"demo-data exit {code}", "output_tail": tail}
    sets = {"backbone": plan.backbone, "image_size": plan.image_size, "folds": plan.folds,
            "patience_pretrain": 99, "patience_stage1": 99, "patience_stage2": 99,
            **dict(parse_assignment(s) for s in plan.sets)}  # fmt: skip
    command = [sys.executable, "-c", _TRAIN, str(data), str(work / "epochs-cache"), json.dumps(sets)]
    with GpuSampler(enabled=on_gpu) as sampler:
        code, _ = run_command(command, max(30.0, timeout - (time.monotonic() - started)), dict(os.environ),
                              work / "epochs.log")  # fmt: skip
    out = (work / "epochs.log").read_text(errors="replace")
    trials = [json.loads(line[6:]) for line in out.splitlines() if line.startswith("TRIAL ")]
    result: dict = {
        **asdict(plan),
        "exit": code,
        "trials": [{"trial": t["trial"], "wall_s": t["wall_s"]} for t in trials],
    }
    if not trials:
        return {**result, "error": "no trial finished", "output_tail": out[-2000:]}
    result["stages"] = summarize(trials[0]["epochs"])
    if len(trials) > 1:
        result["second_trial_stages"] = summarize(trials[1]["epochs"])
    if on_gpu:
        result["gpu_utilization_mean"] = (
            round(sum(sampler.utilization) / len(sampler.utilization), 1) if sampler.utilization else None
        )
        result["gpu_utilization_max"] = max(sampler.utilization, default=None)
    return result


def summarize(rows: list[list]) -> dict:
    """Per stage: fold 0's first epoch, later folds' first epochs (median) and every later epoch (median)."""
    stages: dict[str, dict] = {}
    for stage in dict.fromkeys(row[1] for row in rows):
        mine = [row for row in rows if row[1] == stage]
        first = [row[3] for row in mine if row[0] == 0 and row[2] == 1]
        later_first = [row[3] for row in mine if row[0] > 0 and row[2] == 1]
        steady = [row[3] for row in mine if row[2] > 1]
        stages[stage] = {
            "fold0_first_epoch_s": first[0] if first else None,
            "later_folds_first_epoch_s": statistics.median(later_first) if later_first else None,
            "steady_epoch_s": statistics.median(steady) if steady else None,
        }
    return stages
