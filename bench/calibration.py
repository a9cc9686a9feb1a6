"""How hard the demo data is: the calibration table of ``dfu-search demo-data`` (QWK per visit).

For each data seed: demo images drawn for the real metadata's 890 visits (``--from-metadata``), and a
fully synthetic folder of the same size (268 patients); on each, the metadata-only RandomForest, the
default fusion and the ``degenerate`` preset, plus (first seed only) each image modality alone —
all with the trainer's defaults (small CNN, 64 px) on patient-grouped folds. The reference figures
are the research's on the real images (docs/design.md, reference figures): images alone κ 0.15–0.27, metadata 0.33–0.39,
fusion 0.28 untuned and 0.37 after a 100-trial search.

    python bench/calibration.py                       # seeds 0,1,2, 3 folds, 3 shots (≈ 2 h on 2 cores)
    python bench/calibration.py --seeds 0 --shots 1 --skip synthetic,images

Every run is appended to ``--runs`` (JSON lines) as it finishes; the script ends with one JSON line of the
whole table (``--out`` also writes it to a file).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from _common import REAL_CSV, WORK, emit, machine, real_demo_data

MODALITIES = ("depth_rgb", "depth_map", "thermal_rgb", "thermal_map")


def synthetic_data(seed: int, shots: int, patients: int = 268) -> Path:
    from demodata import GENERATOR_VERSION, write_demo_data

    folder = WORK / f"synthetic-v{GENERATOR_VERSION}-{patients}-{shots}shot-{seed}"
    if not (folder / "data").is_dir():
        write_demo_data(folder / "partial", patients=patients, seed=seed, shots_per_visit=shots)
        (folder / "partial").rename(folder / "data")
    return folder / "data"


def run(data: Path, preset: str | None, overrides: dict) -> dict:
    from trainer import load_config, train

    config = load_config(preset, None, overrides)
    started = time.perf_counter()
    summary = train(data, config, WORK / "cache")
    folds = summary["folds"]
    row = {"qwk": round(summary["qwk"], 4), "metadata_qwk": round(summary["metadata_qwk"], 4),
           "fold_qwk": [round(f["qwk"], 4) for f in folds], "seconds": round(time.perf_counter() - started, 1)}  # fmt: skip
    if "pretrain" in folds[0].get("stages", {}):
        row["stages"] = [
            {stage: {k: s[k] for k in ("best_epoch", "epochs_run", "best_qwk", "pred_histogram", "collapsed_epochs")}
             for stage, s in f["stages"].items()}
            for f in folds
        ]  # fmt: skip
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--shots", type=int, default=3, help="shots (image rows) per visit of the demo data")
    parser.add_argument("--runs", type=Path, help="append each finished run here as a JSON line")
    parser.add_argument("--skip", default="", help="comma-separated: real, synthetic, images, degenerate, default")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    seeds = [int(s) for s in args.seeds.split(",")]
    started = time.perf_counter()
    table = []
    for kind in ("real", "synthetic"):
        if kind in skip:
            continue
        for seed in seeds:
            data = real_demo_data(None, args.shots, seed) if kind == "real" else synthetic_data(seed, args.shots)
            base = {"folds": args.folds, "seed": seed}
            row = {"data": kind, "seed": seed, "shots": args.shots}
            arms = [("metadata", None, {"modalities": ["metadata"]})]
            if "images" not in skip and seed == seeds[0]:
                arms += [(m, None, {"modalities": [m]}) for m in MODALITIES]
            arms += [(p, p, {}) for p in ("default", "degenerate") if p not in skip]
            for arm, preset, overrides in arms:
                row[arm] = run(data, preset, {**base, **overrides})
                print(f"{kind} seed {seed} {arm}: QWK {row[arm]['qwk']}", file=sys.stderr, flush=True)
                if args.runs:
                    with args.runs.open("a") as handle:
                        handle.write(json.dumps({"data": kind, "seed": seed, "shots": args.shots, "folds": args.folds,
                                                 "arm": arm, **row[arm]}) + "\n")  # fmt: skip
            table.append(row)
    emit({"bench": "calibration", "machine": machine(), "folds": args.folds, "real_csv": REAL_CSV.name,
          "table": table, "total_s": round(time.perf_counter() - started, 1)}, args.out)  # fmt: skip


if __name__ == "__main__":
    main()
