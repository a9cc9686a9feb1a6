"""What augmentation does to validation QWK on the calibrated demo data (the real metadata's 890 visits).

For each augmentation level and each seed (data seed = trainer seed), one 3-fold run of the
``quick`` preset (the recipe the pruning benchmark records), identical apart from ``augment``.
Reported per level: the fused QWK (visit level, folds grouped by patient), the image-only QWK of
pre-training and the seconds, as the median and range over the seeds. Runs go one after the other.

    python bench/augment.py                              # none / light / strong × seeds 0, 1 (7 min on 2 cores)
    python bench/augment.py --set epochs_pretrain=30 --set epochs_stage1=20   # longer schedules

Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from _common import WORK, emit, machine, real_demo_data

LEVELS = ("none", "light", "strong")
SETTINGS = {"image_size": 32, "rf_trees": 100, "folds": 3}  # as bench/pruning.py records its curves


def run(level: str, seed: int, extra: dict) -> dict:
    from trainer import load_config, train

    data = real_demo_data(None, 1, seed)
    config = load_config("quick", overrides={**SETTINGS, **extra, "seed": seed, "augment": level})
    started = time.perf_counter()
    summary = train(data, config, WORK / "cache")
    pretrain = [fold["stages"]["pretrain"]["best_qwk"] for fold in summary["folds"]]
    return {
        "level": level,
        "seed": seed,
        "qwk": round(summary["qwk"], 4),
        "metadata_qwk": round(summary["metadata_qwk"], 4),
        "pretrain_qwk": round(statistics.mean(pretrain), 4),
        "seconds": round(time.perf_counter() - started, 1),
    }


def _spread(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 4), "range": [round(min(values), 4), round(max(values), 4)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1", help="data and trainer seeds")
    parser.add_argument("--levels", default=",".join(LEVELS))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="more trainer settings")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    from trainer.config import parse_assignment

    extra = dict(parse_assignment(item) for item in args.set)
    seeds = [int(s) for s in args.seeds.split(",")]
    runs = []
    for seed in seeds:
        for level in args.levels.split(","):
            runs.append(run(level, seed, extra))
            r = runs[-1]
            print(f"seed {seed} augment {level:>6}: QWK {r['qwk']:.3f} (metadata {r['metadata_qwk']:.3f}, "
                  f"image-only pre-training {r['pretrain_qwk']:.3f}), {r['seconds']} s", flush=True)  # fmt: skip
    levels = {}
    for level in args.levels.split(","):
        mine = [r for r in runs if r["level"] == level]
        levels[level] = {key: _spread([r[key] for r in mine]) for key in ("qwk", "pretrain_qwk", "seconds")}
    emit({"bench": "augment", "machine": machine(), "preset": "quick", "settings": {**SETTINGS, **extra},
          "seeds": seeds, "levels": levels, "runs": runs}, args.out)  # fmt: skip


if __name__ == "__main__":
    main()
