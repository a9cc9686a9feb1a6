"""Shared by the benchmarks: the machine they ran on, demo data drawn from the real metadata, the JSON line."""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
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


def real_demo_data(visits: int | None, shots: int, seed: int = 0) -> Path:
    """Synthetic images for the real metadata's visits and labels (all visits, or whole patients up to ``visits``).

    Built once per (visits, shots, seed) under ``bench/.work``; the real CSV is read, never copied into the repo.
    """
    from trainer.synthetic import GENERATOR_VERSION, write_demo_data

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


def emit(result: dict, out: Path | None) -> None:
    """The benchmark's one JSON line on stdout (and in ``out`` when given)."""
    line = json.dumps(result, sort_keys=False, default=float)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(line + "\n")
    print(line, flush=True)
