"""Does the learnable fusion weight learn? Two starts, several learning-rate scales, the same data and seed.

    python bench/fusion_weight.py                      # → bench/results/fusion-weight.json
    python bench/fusion_weight.py --scales 1,30 --inits 0.4,0.9

``dfu-search train`` on the calibrated data from the real metadata (data seed 0, one shot a visit),
quick preset, 3 folds, seed 0, with ``fusion_init`` 0.4 and 0.9 and each ``fusion_lr_scale``: per
fold, the RF weight at the start and the end of each fusion stage, and the QWK. Scale 1 is the weight
as it was (a logit trained at the stage's learning rate). The pre-training store is shared by all
runs (none of these settings is read by pre-training), so each fold pre-trains once.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from _common import REPO, WORK, dfu_command, emit, machine, real_demo_data, run_timed, shown

RESULTS = REPO / "bench" / "results"


def run(data: Path, init: float, scale: float, seed: int, sets: list[str]) -> dict:
    out = WORK / f"fusion-{init}-{scale}-seed{seed}"
    command = dfu_command("train", "--data", str(data), "--preset", "quick", "--folds", "3", "--seed", str(seed),
                   "--set", f"fusion_init={init}", "--set", f"fusion_lr_scale={scale}",
                   *(a for s in sets for a in ("--set", s)), "--cache-dir", str(WORK / "fusion-cache"),
                   "--out", str(out))  # fmt: skip
    started = time.perf_counter()
    cpu = run_timed(command, WORK / f"{out.name}.log")
    summary = json.loads((out / "result.json").read_text())
    folds = [{"stage1": f["stages"].get("stage1", {}).get("fusion_weight"),
              "stage2": f["stages"].get("stage2", {}).get("fusion_weight"),
              "final": f["fusion_weight"], "qwk": f["qwk"]} for f in summary["folds"]]  # fmt: skip
    return {"init": init, "scale": scale, "seed": seed, "qwk": summary["qwk"], "metadata_qwk": summary["metadata_qwk"],
            "folds": folds, "cpu_s": round(cpu, 1), "wall_s": round(time.perf_counter() - started, 1),
            "command": shown(command)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default="1,10,30,100")
    parser.add_argument("--inits", default="0.4,0.9")
    parser.add_argument("--seeds", default="0", help="trainer seeds (the data seed stays 0)")
    parser.add_argument("--set", action="append", default=[], help="more trainer settings, key=value")
    parser.add_argument("--out", type=Path, default=RESULTS / "fusion-weight.json")
    args = parser.parse_args()
    data = real_demo_data(None, 1, 0)
    started = time.perf_counter()
    runs = []
    for seed in map(int, args.seeds.split(",")):
        for scale in map(float, args.scales.split(",")):
            for init in map(float, args.inits.split(",")):
                runs.append(run(data, init, scale, seed, args.set))
                r = runs[-1]
                ends = [f["final"] for f in r["folds"]]
                print(f"seed {seed} scale {scale:g} init {init}: final weights {[round(w, 3) for w in ends]}, "
                      f"QWK {r['qwk']:.3f} (metadata {r['metadata_qwk']:.3f})", flush=True)  # fmt: skip
    emit({"bench": "fusion-weight", "machine": machine(), "data_seed": 0, "shots": 1, "preset": "quick",
          "folds": 3, "sets": args.set, "runs": runs, "wall_s": round(time.perf_counter() - started, 1)}, args.out)  # fmt: skip


if __name__ == "__main__":
    main()
