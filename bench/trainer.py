"""Training throughput through the trainer against a bare ``model.fit``, and the image cache.

For each case (backbone, image size, precision): two copies of the same fusion model (RF
probabilities + depth_rgb + thermal_map branches), trained on the same in-memory rows for the same
epochs — one through ``trainer.stages.run_stage`` (focal loss, running train QWK, per-epoch
validation on a quarter as many rows, best-weight copies, the ``on_epoch`` hook), one by a bare
``model.fit`` with the same loss and optimizer and no validation. The two take strict turns, an
epoch each (never computing at once), so load from elsewhere hits neighbouring epochs of both
alike: on this shared 2-core machine whole runs one after the other differed by ±25 % between
repeats. The overhead is ``1 − bare epoch s / trainer epoch s``, the median over every epoch pair
after the first (tracing) of ``--repeats`` runs; its range is over the runs' medians. The goal is
≤ 10 %. Part of it is physical: the validation forward pass over the extra quarter of rows (about
8 % of a training epoch's work), which a bare fit does not do.

    python bench/trainer.py --quick      # the four goal cases, 3 paired runs
    python bench/trainer.py --extra      # EfficientNetB3, DenseNet121, mixed precision: 1 repeat
    python bench/trainer.py --cases small@64:mixed,efficientnetb3@128 --repeats 2

Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import threading
import time
from pathlib import Path

import numpy as np
from _common import WORK, emit, machine, real_demo_data

MODALITIES = ("metadata", "depth_rgb", "thermal_map")


def _rows(n: int, size: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    inputs = {m: rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8) for m in MODALITIES[1:]}
    inputs["rf_probs"] = rng.dirichlet([1, 1, 1], n).astype("float32")
    return inputs, labels


GOAL_CASES = ("small@64", "small@128", "efficientnetb0@64", "efficientnetb0@128")
EXTRA_CASES = (
    "efficientnetb3@64", "densenet121@64", "small@64:mixed", "efficientnetb0@64:mixed",
)  # fmt: skip


def _model(backbone: str, size: int, precision: str):
    from trainer import models
    from trainer.config import TrainConfig

    config = TrainConfig(backbone=backbone, image_size=size, precision=precision)
    branches = models.build_image_branches(config, MODALITIES[1:])
    return models.build_fusion_model(branches, config)


class _Turns:
    """Two arms in two threads that take strict turns, an epoch each: they never compute at once.

    Each arm's epoch is timed from the moment it gets its turn to the moment it hands it over, so a
    burst of load from elsewhere on a shared machine lands on both arms' neighbouring epochs alike,
    and the per-epoch ratio stays fair where whole runs one after the other differ by ±25 %.
    """

    def __init__(self) -> None:
        self.turn = {"trainer": threading.Semaphore(1), "bare": threading.Semaphore(0)}
        self.seconds: dict[str, list[float]] = {"trainer": [], "bare": []}
        self._since: dict[str, float] = {}

    def begin(self, arm: str) -> None:
        self.turn[arm].acquire()
        self._since[arm] = time.perf_counter()

    def hand_over(self, arm: str) -> None:
        self.seconds[arm].append(time.perf_counter() - self._since[arm])
        self.turn["bare" if arm == "trainer" else "trainer"].release()


def paired_epochs(backbone: str, size: int, precision: str, rows: int, epochs: int, batch: int) -> dict[str, list]:
    """Seconds per epoch of ``run_stage`` (validation, hook and all) and of a bare ``model.fit``, interleaved.

    Two copies of the same model on the same arrays: one trained through the trainer's stage, one
    by ``model.fit`` with the same loss and optimizer and no validation. The first epoch of each
    (graph tracing) is dropped.
    """
    import keras

    from trainer import stages
    from trainer.losses import FocalLoss
    from trainer.stages import Split, StagePlan, run_stage

    inputs, labels = _rows(rows, size, 0)
    val_inputs, val_labels = _rows(rows // 4, size, 1)
    train = Split(inputs, labels, np.arange(rows), labels)
    val = Split(val_inputs, val_labels, np.arange(rows // 4), val_labels)
    plan = StagePlan("stage1", 1e-4, epochs, epochs, np.ones(3), 2.0, batch, 0.5, 99, 0, 0)
    _configure(precision)
    trainer_model, bare_model = _model(backbone, size, precision), _model(backbone, size, precision)
    bare_model.compile(optimizer=keras.optimizers.Adam(1e-4), loss=FocalLoss(np.ones(3), 2.0))
    turns = _Turns()

    class _BareTurn(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            turns.begin("bare")

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            turns.hand_over("bare")

    def bare() -> None:
        bare_model.fit(inputs, keras.utils.to_categorical(labels, 3), batch_size=batch, epochs=epochs,
                       shuffle=True, verbose=0, callbacks=[_BareTurn()])  # fmt: skip

    # What the stage adds outside fit, timed directly: its on_epoch_end (validation, scores, copies, hook).
    # (The hook is where the trainer hands its turn over, so the clock stops on entering it.)
    monitor_s: list[float] = []
    monitor_started: list[float] = []
    on_epoch_end = stages._StageMonitor.on_epoch_end

    def timed_on_epoch_end(monitor, epoch: int, logs: dict | None = None) -> None:
        monitor_started.append(time.perf_counter())
        on_epoch_end(monitor, epoch, logs)

    def trainer_epoch_done(report) -> None:
        monitor_s.append(time.perf_counter() - monitor_started[-1])
        turns.hand_over("trainer")
        turns.begin("trainer")

    other = threading.Thread(target=bare)
    turns.begin("trainer")
    other.start()
    stages._StageMonitor.on_epoch_end = timed_on_epoch_end
    try:
        run_stage(trainer_model, plan, train, val, trainer_epoch_done)
    finally:
        stages._StageMonitor.on_epoch_end = on_epoch_end
        turns.turn["bare"].release()  # the trainer is done: let the bare fit finish its last epoch
        other.join()
    return {**{arm: seconds[1:epochs] for arm, seconds in turns.seconds.items()}, "monitor": monitor_s[1:epochs]}


def _configure(precision: str) -> None:
    from trainer import _backend

    _backend.free_memory()
    _backend.configure(0, precision)


def cache_times(size: int) -> dict:
    """Building the preprocessed-image cache for the 300-visit demo data once, then reading it back."""
    from trainer import load_dataset
    from trainer.images import load_images

    data = real_demo_data(300, 2)
    dataset = load_dataset(data, None)
    cache = WORK / "trainer-cache"
    shutil.rmtree(cache, ignore_errors=True)
    started = time.perf_counter()
    load_images(dataset, size, cache)
    built = time.perf_counter() - started
    started = time.perf_counter()
    load_images(dataset, size, cache)
    reused = time.perf_counter() - started
    return {
        "image_rows": len(dataset.image_rows),
        "size": size,
        "build_s": round(built, 2),
        "reuse_s": round(reused, 3),
    }


def parse_case(text: str) -> tuple[str, int, str]:
    """``backbone@size[:precision]`` → (backbone, size, precision)."""
    name, _, precision = text.partition(":")
    backbone, _, size = name.partition("@")
    return backbone, int(size), precision or "float32"


def measure(case: str, repeats: int, rows: int, epochs: int, batch: int) -> dict:
    """``repeats`` paired runs; the overhead is the median over all epoch pairs, its range over runs."""
    backbone, size, precision = parse_case(case)
    trainer, bare, ratios, per_run, monitor_share = [], [], [], [], []
    for repeat in range(repeats):
        seconds = paired_epochs(backbone, size, precision, rows, epochs, batch)
        pairs = [t / b for t, b in zip(seconds["trainer"], seconds["bare"], strict=True)]
        trainer += seconds["trainer"]
        bare += seconds["bare"]
        ratios += pairs
        monitor_share += [m / t for m, t in zip(seconds["monitor"], seconds["trainer"], strict=True)]
        per_run.append(1 - 1 / statistics.median(pairs))
        print(f"  {case} run {repeat + 1}: trainer {rows / statistics.median(seconds['trainer']):.1f}, bare "
              f"{rows / statistics.median(seconds['bare']):.1f} samples/s, overhead {100 * per_run[-1]:.1f} %; "
              f"validation etc. {100 * statistics.median(monitor_share[-len(pairs):]):.1f} % of a trainer epoch",
              flush=True)  # fmt: skip
    return {
        "case": case, "backbone": backbone, "size": size, "precision": precision, "repeats": repeats,
        "epoch_pairs": len(ratios),
        "trainer_samples_s": round(rows / statistics.median(trainer), 1),
        "bare_samples_s": round(rows / statistics.median(bare), 1),
        "overhead": round(1 - 1 / statistics.median(ratios), 3),
        "overhead_range": [round(min(per_run), 3), round(max(per_run), 3)],
        # the part of a trainer epoch spent after fit's epoch: validation, scores, copies, the hook
        "monitor_share": round(statistics.median(monitor_share), 3),
        "monitor_share_range": [round(min(monitor_share), 3), round(max(monitor_share), 3)],
        "trainer_epoch_s": [round(v, 3) for v in trainer], "bare_epoch_s": [round(v, 3) for v in bare],
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the four goal cases only (the default set)")
    parser.add_argument("--extra", action="store_true", help="the other backbones and mixed precision")
    parser.add_argument("--cases", help="comma-separated backbone@size[:precision]")
    parser.add_argument("--repeats", type=int, help="runs of each arm (default: 3; 1 with --extra)")
    parser.add_argument("--rows", type=int, default=512, help="training rows (validation: a quarter as many)")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per run; the first is not timed")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    cases = args.cases.split(",") if args.cases else list(EXTRA_CASES if args.extra else GOAL_CASES)
    repeats = args.repeats or (1 if args.extra else 3)
    started = time.perf_counter()
    results = []
    for case in cases:
        results.append(measure(case, repeats, args.rows, args.epochs, args.batch))
        r = results[-1]
        print(f"{case:>24}: trainer {r['trainer_samples_s']} samples/s, bare fit {r['bare_samples_s']}, "
              f"overhead {100 * r['overhead']:.1f} % (range {100 * r['overhead_range'][0]:.1f} to "
              f"{100 * r['overhead_range'][1]:.1f}); after-epoch work {100 * r['monitor_share']:.1f} %",
              flush=True)  # fmt: skip
    cache = cache_times(64)
    print(f"image cache, {cache['image_rows']} rows at 64 px: build {cache['build_s']} s, reuse {cache['reuse_s']} s")
    emit({"bench": "trainer", "mode": "extra" if args.extra else "goal", "machine": machine(), "rows": args.rows,
          "val_rows": args.rows // 4, "epochs": args.epochs, "batch": args.batch, "throughput": results,
          "max_overhead": max(r["overhead"] for r in results), "cache": cache,
          "total_s": round(time.perf_counter() - started, 1)}, args.out)  # fmt: skip


if __name__ == "__main__":
    main()
