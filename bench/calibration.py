"""How hard the demo data is: the calibration table of ``dfu-search demo-data`` (QWK per visit).

For each data seed: demo images drawn for the real metadata's 890 visits (``--from-metadata``), and a
fully synthetic folder of the same size (268 patients); on each, the metadata-only RandomForest, the
default fusion and the ``degenerate`` preset, plus (first seed only) each image modality alone —
all with the trainer's defaults (small CNN, 64 px) on patient-grouped folds. The reference figures
are the research's on the real images (DESIGN §7): images alone κ 0.15–0.27, metadata 0.33–0.39,
fusion 0.28 untuned and 0.37 after a 100-trial search.

    python bench/calibration.py                       # seeds 0,1,2, 3 folds (≈ 1 h on 2 cores)
    python bench/calibration.py --seeds 0 --folds 3 --skip synthetic

Ends with one JSON line; ``--out`` also writes it to a file.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from _common import REAL_CSV, WORK, emit, machine, real_demo_data

MODALITIES = ("depth_rgb", "depth_map", "thermal_rgb", "thermal_map")


def synthetic_data(seed: int, patients: int = 268) -> Path:
    from trainer.synthetic import GENERATOR_VERSION, write_demo_data

    folder = WORK / f"synthetic-v{GENERATOR_VERSION}-{patients}-{seed}" / "data"
    if not folder.is_dir():
        write_demo_data(folder, patients=patients, seed=seed)
    return folder


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
            data = real_demo_data(None, 3, seed) if kind == "real" else synthetic_data(seed)
            base = {"folds": args.folds, "seed": seed}
            row = {"data": kind, "seed": seed}
            row["metadata"] = run(data, None, {**base, "modalities": ["metadata"]})
            print(f"{kind} seed {seed}: metadata {row['metadata']['qwk']}", file=sys.stderr, flush=True)
            if "images" not in skip and seed == seeds[0]:
                for modality in MODALITIES:
                    row[modality] = run(data, None, {**base, "modalities": [modality]})
                    print(f"  {modality} alone {row[modality]['qwk']}", file=sys.stderr, flush=True)
            for preset in ("default", "degenerate"):
                if preset not in skip:
                    row[preset] = run(data, preset, base)
                    print(f"  {preset} {row[preset]['qwk']}", file=sys.stderr, flush=True)
            table.append(row)
    emit({"bench": "calibration", "machine": machine(), "folds": args.folds, "real_csv": REAL_CSV.name,
          "table": table, "total_s": round(time.perf_counter() - started, 1)}, args.out)  # fmt: skip


if __name__ == "__main__":
    main()
