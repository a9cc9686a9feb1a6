"""What the pre-training store saves in a live study, and what an entry costs.

    python bench/pretrain_store.py              # → bench/results/pretrain-store.json (about an hour here)
    python bench/pretrain_store.py --trials 6   # a short pair

1. **A live pair**, one study after the other on the same data and seed: the calibrated data from the
   real metadata (data seed 0, one shot a visit), quick preset at 32 px, 3 folds, TPE with a fixed
   seed, 2 workers, the default pruner — with the store (cold at the start) and with
   ``--no-pretrain-cache``. Epochs trained, CPU seconds (the launcher and its workers), wall seconds,
   best QWK, and the store's misses (entries made) and hits. The image and RandomForest caches are
   built before either arm, so neither pays for them.
2. **An entry's size and a hit's time** for the small CNN (from the pair's store) and for EfficientNetB0
   at 128 px (one pre-training epoch on a small demo folder, then loaded again).
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import time
from pathlib import Path

from _common import (
    FOLDS,
    RECORD_SETS,
    REPO,
    SHOTS,
    WORK,
    dfu_command,
    emit,
    machine,
    real_demo_data,
    run_timed,
    shown,
    study_summary,
    timed,
    warm_caches,
)

RESULTS = REPO / "bench" / "results"


def live_pair(trials: int, workers: int) -> dict:
    from trainer.stages import FOLDER, PretrainStore

    data = real_demo_data(None, SHOTS, 0)
    cache = WORK / "store-cache"
    shutil.rmtree(cache / FOLDER, ignore_errors=True)  # a cold store
    warm_caches(data, cache)
    arms = {}
    for arm, extra in (("store", []), ("no store", ["--no-pretrain-cache"])):
        name = f"store-{'on' if arm == 'store' else 'off'}"
        db = WORK / f"{name}.db"
        db.unlink(missing_ok=True)
        command = dfu_command("launch", "--study", name, "--storage", f"sqlite:///{db}", "--data", str(data), "--preset",
                       "quick", "--folds", str(FOLDS), *(a for s in RECORD_SETS for a in ("--set", s)), "--trials",
                       str(trials), "--workers", str(workers), "--seed", "0", "--cache-dir", str(cache),
                       "--log-dir", str(WORK / "logs" / name), *extra)  # fmt: skip
        started = time.perf_counter()
        cpu = run_timed(command, WORK / f"{name}.log")
        summary = study_summary(name, db)
        arms[arm] = {"wall_s": round(time.perf_counter() - started, 1), "cpu_s": round(cpu, 1),
                     "command": shown(command), **summary, "cached_epochs": _cached_epochs(name, db)}  # fmt: skip
    entries = PretrainStore(cache / FOLDER).entries()
    arms["store"].update(misses=len(entries), hits=sum(e.hits for e in entries),
                         entry_bytes_median=sorted(e.bytes for e in entries)[len(entries) // 2] if entries else None)  # fmt: skip
    on, off = arms["store"], arms["no store"]
    return {
        "arms": arms,
        "epochs_ratio": round(off["epochs"] / on["epochs"], 2),
        "cpu_ratio": round(off["cpu_s"] / on["cpu_s"], 2),
        "wall_ratio": round(off["wall_s"] / on["wall_s"], 2),
    }


def _cached_epochs(name: str, db: Path) -> int:
    import optuna

    study = optuna.load_study(study_name=name, storage=f"sqlite:///{db}")
    return sum(1 for t in study.trials for row in t.user_attrs.get("curve", []) if len(row) > 13 and row[13])


class _HitTimes(logging.Handler):
    """The store logs each hit's load time; collect them."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        found = re.search(r"loaded from the store .* in ([0-9.]+) s", record.getMessage())
        if found:
            self.seconds.append(float(found.group(1)))


def entry_cost(backbone: str, size: int) -> dict:
    """One pre-training epoch of ``backbone`` at ``size`` px on 2 folds of a small demo folder, then the same
    run again: the entries' size and the hits' load time."""
    from trainer import load_config, train
    from trainer.stages import FOLDER, PretrainStore

    data = real_demo_data(120, 1, 0)
    cache = WORK / f"store-entry-{backbone}-{size}"
    shutil.rmtree(cache, ignore_errors=True)
    config = load_config("quick", None, [f"backbone={backbone}", f"image_size={size}", "epochs_pretrain=1",
                                         "epochs_stage1=0", "epochs_stage2=0", "folds=2", "rf_trees=30"])  # fmt: skip
    handler = _HitTimes()
    logging.getLogger("trainer.stages._store").addHandler(handler)
    logging.getLogger("trainer.stages._store").setLevel(logging.INFO)
    try:
        cold, warm = timed(train, data, config, cache), timed(train, data, config, cache)
    finally:  # or the next case's hits land in this case's list too
        logging.getLogger("trainer.stages._store").removeHandler(handler)
    entries = PretrainStore(cache / FOLDER).entries()
    return {"case": f"{backbone}@{size}", "entries": len(entries), "entry_mb": [round(e.bytes / 1e6, 2) for e in entries],
            "hit_load_s": handler.seconds, "cold_run_s": round(cold, 1), "warm_run_s": round(warm, 1)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-pair", action="store_true", help="only the entry sizes and hit times")
    parser.add_argument("--out", type=Path, default=RESULTS / "pretrain-store.json")
    args = parser.parse_args()
    started = time.perf_counter()
    result = {"bench": "pretrain-store", "machine": machine(), "trials": args.trials, "workers": args.workers}
    result["entries"] = [entry_cost("small", 32), entry_cost("efficientnetb0", 128)]
    print(result["entries"], flush=True)
    if not args.skip_pair:
        result["pair"] = live_pair(args.trials, args.workers)
    result["wall_s"] = round(time.perf_counter() - started, 1)
    emit(result, args.out)


if __name__ == "__main__":
    main()
