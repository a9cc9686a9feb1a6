"""Training throughput through the trainer against a bare ``model.fit``, and the image cache.

For each backbone and image size: the same fusion model (RF probabilities + depth_rgb + thermal_map
branches), trained on the same in-memory rows for the same epochs two ways — through
``trainer.stages.run_stage`` (focal loss, running train QWK, per-epoch validation on visits, the
``on_epoch`` hook) and through a bare ``model.fit`` with the same loss and optimizer. Samples per
second are over the epochs after the first (the first traces the graph). The pipeline overhead is
``1 − trainer / bare``; the goal is ≤ 10 %. Then the image cache: building it for the demo data
vs reading it back.

    python bench/trainer.py --quick      # small at 64/128 px, EfficientNetB0 at 64 px (< 5 min, 2 cores)
    python bench/trainer.py              # also EfficientNetB0 at 128 px

Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import shutil
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


def _model(backbone: str, size: int):
    from trainer import _backend, models
    from trainer.config import TrainConfig

    _backend.configure(0)
    config = TrainConfig(backbone=backbone, image_size=size)
    branches = models.build_image_branches(config, MODALITIES[1:])
    return models.build_fusion_model(branches, config)


def through_trainer(backbone: str, size: int, rows: int, epochs: int, batch: int) -> float:
    """Training samples per second of ``run_stage`` (epochs 2..E, validation included, as a search runs it)."""
    from trainer.stages import Split, StagePlan, run_stage

    inputs, labels = _rows(rows, size, 0)
    val_inputs, val_labels = _rows(rows // 4, size, 1)
    train = Split(inputs, labels, np.arange(rows), labels)
    val = Split(val_inputs, val_labels, np.arange(rows // 4), val_labels)
    plan = StagePlan("stage1", 1e-4, epochs, epochs, np.ones(3), 2.0, batch, 0.5, 99, 0, 0)
    stamps = []
    run_stage(_model(backbone, size), plan, train, val, lambda report: stamps.append(time.perf_counter()))
    return rows * (len(stamps) - 1) / (stamps[-1] - stamps[0])


def bare_fit(backbone: str, size: int, rows: int, epochs: int, batch: int) -> float:
    """Training samples per second of a bare ``model.fit`` of the same model on the same arrays (epochs 2..E)."""
    import keras

    from trainer.losses import FocalLoss

    inputs, labels = _rows(rows, size, 0)
    model = _model(backbone, size)
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss=FocalLoss(np.ones(3), 2.0))
    stamps = []
    stamp = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: stamps.append(time.perf_counter()))
    model.fit(inputs, keras.utils.to_categorical(labels, 3), batch_size=batch, epochs=epochs, shuffle=True,
              verbose=0, callbacks=[stamp])  # fmt: skip
    return rows * (len(stamps) - 1) / (stamps[-1] - stamps[0])


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rows", type=int, help="training rows (default: 256 quick, 512 full)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows = args.rows or (256 if args.quick else 512)
    cases = [("small", 64), ("small", 128), ("efficientnetb0", 64)]
    if not args.quick:
        cases.append(("efficientnetb0", 128))
    started = time.perf_counter()
    results = []
    for backbone, size in cases:
        trainer = through_trainer(backbone, size, rows, args.epochs, args.batch)
        bare = bare_fit(backbone, size, rows, args.epochs, args.batch)
        results.append({"backbone": backbone, "size": size, "trainer_samples_s": round(trainer, 1),
                        "bare_samples_s": round(bare, 1), "overhead": round(1 - trainer / bare, 3)})  # fmt: skip
        r = results[-1]
        print(f"{backbone:>15} {size:>3} px: trainer {r['trainer_samples_s']} samples/s, bare fit "
              f"{r['bare_samples_s']}, overhead {100 * r['overhead']:.1f} %", flush=True)  # fmt: skip
    cache = cache_times(64)
    print(f"image cache, {cache['image_rows']} rows at 64 px: build {cache['build_s']} s, reuse {cache['reuse_s']} s")
    emit({"bench": "trainer", "mode": "quick" if args.quick else "full", "machine": machine(), "rows": rows,
          "epochs": args.epochs, "batch": args.batch, "throughput": results,
          "max_overhead": max(r["overhead"] for r in results), "cache": cache,
          "total_s": round(time.perf_counter() - started, 1)}, args.out)  # fmt: skip


if __name__ == "__main__":
    main()
