"""Training throughput through the trainer against a bare ``model.fit``, and the image cache.

For each case (backbone, image size, precision): two copies of the same fusion model (RF
probabilities + depth_rgb + thermal_map branches), trained on the same in-memory rows for the same
epochs — one through ``trainer.stages.run_stage`` (focal loss, running train QWK, per-epoch
validation on a quarter as many rows, best-weight copies, the ``on_epoch`` hook), one by a bare
``model.fit`` with the same loss and optimizer and no validation. Each is one ``fit`` over all its
epochs, in its own thread; the two take strict turns, an epoch each (never computing at once), so
load from elsewhere hits neighbouring epochs of both alike. A run's overhead is
``1 − bare seconds / trainer seconds`` over its epochs after the first (tracing); the figure is the
median of ``--repeats`` runs, with their range. The goal is ≤ 10 %.

Sums, not medians of epochs: on TensorFlow, about half of all epochs of any long ``fit`` spend an
extra ~0.2 s before their first batch (starting the epoch's data iterator; 0.40 s → 0.62 s for
small@64 at 256 rows, the same CPU seconds), at random, so epoch times have two humps and a median
flips between them. Both arms pay it alike. The overhead is given in wall seconds (what a user
waits) and in the process's CPU seconds (the work done); on a GPU only the wall figure counts, CPU
seconds miss the device's work. Part of the overhead is physical: the validation forward pass over
the extra quarter of rows, which a bare fit does not do and a trainer that validates every epoch
cannot skip; it is timed on its own (``validation_share``).

    python bench/throughput.py --quick      # the four goal cases, 3 paired runs
    python bench/throughput.py --extra      # EfficientNetB3, DenseNet121, 256 px, mixed precision: 1 repeat
    python bench/throughput.py --cases small@64:mixed,efficientnetb3@128 --repeats 2
    python bench/throughput.py --cases efficientnetb0@128:mixed --no-cache   # no real data needed (bench/gpu.sh)

Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from _common import (
    WORK,
    configure,
    emit,
    fusion_model,
    gpu_memory,
    machine,
    parse_case,
    random_rows,
    real_demo_data,
    timed,
)

_PROGRESS = os.environ.get("DFU_BENCH_PROGRESS") == "1"
GOAL_CASES = ("small@64", "small@128", "efficientnetb0@64", "efficientnetb0@128")
# EfficientNetB3 and DenseNet121 at 128/256 px cost 4–16× their 64 px epochs: GPU cases (--cases).
EXTRA_CASES = (
    "efficientnetb3@64", "densenet121@64", "small@256", "small@64:mixed", "efficientnetb0@64:mixed",
)  # fmt: skip


class _Turns:
    """Two arms in two threads: their first epochs (tracing, compiling) at once, then strict turns, an epoch each.

    Each arm's epoch is timed from the moment it gets its turn to the moment it hands it over, in
    wall seconds and in the process's CPU seconds (the other arm is blocked meanwhile, so those are
    this arm's). Neither arm runs on the main thread, so neither is favoured by where it runs.

    ``gate`` (called once both arms have compiled) lets several case processes compile side by side
    and then wait for their turn on a shared GPU: see :class:`GpuGate`.
    """

    def __init__(self, gate: Callable[[], None] | None = None) -> None:
        self.turn = {"trainer": threading.Semaphore(0), "bare": threading.Semaphore(0)}
        self.wall: dict[str, list[float]] = {"trainer": [], "bare": []}
        self.cpu: dict[str, list[float]] = {"trainer": [], "bare": []}
        self._since: dict[str, tuple[float, float]] = {}
        self._finished = False
        self._compiled = threading.Barrier(2, action=self._both_compiled)
        self._gate = gate

    def begin(self, arm: str) -> None:
        if self.wall[arm] and not self._finished:  # epoch 1 runs freely; from epoch 2 on, turns
            self.turn[arm].acquire()
        self._since[arm] = (time.perf_counter(), time.process_time())

    def hand_over(self, arm: str) -> None:
        wall, cpu = self._since[arm]
        self.wall[arm].append(time.perf_counter() - wall)
        self.cpu[arm].append(time.process_time() - cpu)
        if _PROGRESS:  # where a long case spends its time (compiling, or epochs), for a run cut short
            print(f"  {time.strftime('%H:%M:%S')} {arm} epoch {len(self.wall[arm])}: {self.wall[arm][-1]:.2f} s",
                  file=sys.stderr, flush=True)  # fmt: skip
        if len(self.wall[arm]) == 1:
            try:
                self._compiled.wait()  # the action gives the trainer the first timed turn
            except threading.BrokenBarrierError:  # the other arm failed or finished
                pass
        else:
            self.turn["bare" if arm == "trainer" else "trainer"].release()

    def _both_compiled(self) -> None:
        if self._gate is not None:
            self._gate()
        self.turn["trainer"].release()

    def finish(self) -> None:
        """One arm is done (or failed): the other runs on without waiting."""
        self._finished = True
        self._compiled.abort()
        for turn in self.turn.values():
            turn.release()


class GpuGate:
    """Case processes on one GPU: compile side by side, then time their epochs one process at a time.

    Compiling EfficientNet's training step takes ~40 s of CPU per arm on JAX (measured on an H200),
    ten times the timed epochs, so a case alone mostly compiles. With a gate, each process, once both
    its arms have compiled, writes ``READY/<pid>``, waits for ``READY/go`` (the coordinator,
    ``bench/gpu.py``, writes it when every case process is ready or gone, so no compile competes with
    a timed epoch for the CPU), then takes an exclusive ``flock`` on ``READY/gpu.lock`` until its
    case is measured.
    """

    def __init__(self, folder: Path, wait_s: float = 900) -> None:
        self.folder, self.wait_s = folder, wait_s
        self._lock: int | None = None

    def __call__(self) -> None:
        import fcntl

        (self.folder / f"{os.getpid()}").write_text("ready")
        deadline = time.monotonic() + self.wait_s
        while not (self.folder / "go").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        self._lock = os.open(self.folder / "gpu.lock", os.O_CREAT | os.O_RDWR)
        fcntl.flock(self._lock, fcntl.LOCK_EX)

    def release(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # closing the descriptor releases the flock
            self._lock = None


@dataclass(frozen=True)
class Schedule:
    """How both arms of a run train: rows, epochs, batch and the backend settings."""

    rows: int = 256  # training rows; validation gets a quarter as many
    epochs: int = 11  # the first (tracing) is not counted
    batch: int = 32
    jit_compile: bool | str = "auto"
    deterministic: bool | str = "auto"


def paired_epochs(
    backbone: str, size: int, precision: str, schedule: Schedule, gate: GpuGate | None = None
) -> dict[str, list]:
    """Seconds per epoch of ``run_stage`` (validation, hook and all) and of a bare ``model.fit``, interleaved.

    Two copies of the same model on the same arrays, each trained by one ``fit`` over all epochs (as
    the trainer's stages are): one through the trainer's stage, one by ``model.fit`` with the same
    loss and optimizer and no validation. The first epoch of each (graph tracing) is dropped.
    """
    import keras

    from trainer.model import focal_loss
    from trainer.stages import Split, StagePlan, run_stage
    from trainer.stages import _stage as stages  # its per-epoch monitor is what this times

    inputs, labels = random_rows(schedule.rows, size, 0)
    val_inputs, val_labels = random_rows(schedule.rows // 4, size, 1)
    train = Split(inputs, labels, np.arange(schedule.rows), labels)
    val = Split(val_inputs, val_labels, np.arange(schedule.rows // 4), val_labels)
    epochs, batch, jit_compile = schedule.epochs, schedule.batch, schedule.jit_compile
    plan = StagePlan("stage1", 1e-4, epochs, epochs, np.ones(3), 2.0, batch, 0.5, 99, 0, 0, jit_compile=jit_compile)
    configure(precision, jit_compile, schedule.deterministic)
    trainer_model, bare_model = fusion_model(backbone, size, precision), fusion_model(backbone, size, precision)
    bare_model.compile(optimizer=keras.optimizers.Adam(1e-4), loss=focal_loss(np.ones(3), 2.0), jit_compile=jit_compile)
    turns = _Turns(gate)

    class _BareTurn(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            turns.begin("bare")

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            turns.hand_over("bare")

    # What the stage adds outside fit, timed directly: its on_epoch_end (validation, scores, copies, up to
    # the hook, where the trainer hands its turn over), and within it the validation forward pass alone,
    # which no trainer that validates every epoch can skip.
    monitor_s: list[float] = []
    monitor_started: list[float] = []
    validation_s: list[float] = []
    on_epoch_end, predict_val = stages._StageMonitor.on_epoch_end, stages._StageMonitor._predict_val

    def timed_on_epoch_end(monitor, epoch: int, logs: dict | None = None) -> None:
        monitor_started.append(time.perf_counter())
        on_epoch_end(monitor, epoch, logs)

    def timed_predict_val(monitor) -> np.ndarray:
        started = time.perf_counter()
        probabilities = predict_val(monitor)
        validation_s.append(time.perf_counter() - started)
        return probabilities

    def trainer_epoch_done(report) -> None:
        monitor_s.append(time.perf_counter() - monitor_started[-1])
        turns.hand_over("trainer")
        turns.begin("trainer")

    def trainer_arm() -> None:
        turns.begin("trainer")
        run_stage(trainer_model, plan, train, val, trainer_epoch_done)

    def bare_arm() -> None:
        bare_model.fit(inputs, keras.utils.to_categorical(labels, 3), batch_size=batch, epochs=epochs,
                       shuffle=True, verbose=0, callbacks=[_BareTurn()])  # fmt: skip

    failures: list[BaseException] = []

    def run(arm: Callable[[], None]) -> None:
        try:
            arm()
        except BaseException as failure:  # noqa: BLE001  (re-raised on the main thread)
            failures.append(failure)
        finally:
            turns.finish()

    stages._StageMonitor.on_epoch_end, stages._StageMonitor._predict_val = timed_on_epoch_end, timed_predict_val
    try:
        threads = [threading.Thread(target=run, args=(arm,)) for arm in (trainer_arm, bare_arm)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        stages._StageMonitor.on_epoch_end, stages._StageMonitor._predict_val = on_epoch_end, predict_val
        if gate is not None:
            gate.release()
    if failures:
        raise failures[0]
    counted = slice(1, epochs)  # the first epoch of each arm traces its graphs
    return {
        "trainer": turns.wall["trainer"][counted],
        "bare": turns.wall["bare"][counted],
        "trainer_cpu": turns.cpu["trainer"][counted],
        "bare_cpu": turns.cpu["bare"][counted],
        "monitor": monitor_s[counted],
        "validation": validation_s[counted],
    }


def cache_times(size: int) -> dict:
    """Building the preprocessed-image cache for the 300-visit demo data once, then reading it back."""
    from trainer import load_dataset
    from trainer.data import load_images

    data = real_demo_data(300, 2)
    dataset = load_dataset(data, None)
    cache = WORK / "trainer-cache"
    shutil.rmtree(cache, ignore_errors=True)
    built, reused = timed(load_images, dataset, size, cache), timed(load_images, dataset, size, cache)
    return {
        "image_rows": len(dataset.image_rows),
        "size": size,
        "build_s": round(built, 2),
        "reuse_s": round(reused, 3),
    }


def _overhead(trainer_s: list[float], bare_s: list[float]) -> float:
    """The share of the trainer's time a bare fit would not spend, over paired epochs (sums, not medians:
    an epoch of either arm may lose ~0.2 s to TensorFlow starting its data iterator, and a median of
    such a two-humped distribution flips between the humps)."""
    return 1 - sum(bare_s) / sum(trainer_s)


#: An epoch ran at full speed when it kept at least this share of the most cores any epoch of its case used.
FULL_SPEED = 0.8


def full_speed_overhead(epochs_s: dict[str, list[float]]) -> tuple[float, int, int]:
    """The wall overhead over the epochs the machine ran at full speed, and how many of each arm's did.

    On this VM an epoch's wall time sometimes doubles or quintuples for the same CPU seconds (the
    host slows the whole VM; the guest sees no steal time and no cgroup throttling). Keeping only
    the epochs whose CPU seconds per wall second are near the best of their case leaves both arms'
    undisturbed epochs.
    """
    cores = {
        arm: [c / w for w, c in zip(epochs_s[arm], epochs_s[f"{arm}_cpu"], strict=True)] for arm in ("trainer", "bare")
    }
    top = max(max(values) for values in cores.values())
    kept = {arm: [w for w, k in zip(epochs_s[arm], cores[arm], strict=True) if k >= FULL_SPEED * top] for arm in cores}
    return 1 - statistics.mean(kept["bare"]) / statistics.mean(kept["trainer"]), len(kept["trainer"]), len(kept["bare"])


def _shares(part_s: list[float], whole_s: list[float]) -> list[float]:
    return [p / w for p, w in zip(part_s, whole_s, strict=True)]


def measure(case: str, repeats: int, schedule: Schedule, gate: GpuGate | None = None) -> dict:
    """``repeats`` paired runs; the overhead is the median of the runs' overheads, with their range.

    From wall seconds (what a user waits) and from the process's CPU seconds (the work done).
    """
    backbone, size, precision = parse_case(case)
    rows = schedule.rows
    runs: list[dict[str, list[float]]] = []
    for repeat in range(repeats):
        run = paired_epochs(backbone, size, precision, schedule, gate)
        runs.append(run)
        print(f"  {case} run {repeat + 1}: trainer {rows * len(run['trainer']) / sum(run['trainer']):.1f}, bare "
              f"{rows * len(run['bare']) / sum(run['bare']):.1f} samples/s, overhead "
              f"{100 * _overhead(run['trainer'], run['bare']):.1f} % (CPU s "
              f"{100 * _overhead(run['trainer_cpu'], run['bare_cpu']):.1f} %); after-epoch work "
              f"{100 * statistics.median(_shares(run['monitor'], run['trainer'])):.1f} % of a trainer epoch",
              flush=True)  # fmt: skip
    every = {key: [s for run in runs for s in run[key]] for key in runs[0]}
    per_run = [_overhead(run["trainer"], run["bare"]) for run in runs]
    per_run_cpu = [_overhead(run["trainer_cpu"], run["bare_cpu"]) for run in runs]
    monitor_share = _shares(every["monitor"], every["trainer"])
    rounded = lambda values: [round(v, 3) for v in values]  # noqa: E731
    full_speed, full_speed_trainer, full_speed_bare = full_speed_overhead(every)
    return {
        "case": case, "backbone": backbone, "size": size, "precision": precision, "repeats": repeats,
        "epoch_pairs": len(every["trainer"]),
        "trainer_samples_s": round(rows * len(every["trainer"]) / sum(every["trainer"]), 1),
        "bare_samples_s": round(rows * len(every["bare"]) / sum(every["bare"]), 1),
        # CPU seconds an epoch: steadier than samples/s where settings are compared across runs
        "trainer_epoch_cpu_s": round(statistics.mean(every["trainer_cpu"]), 3),
        "bare_epoch_cpu_s": round(statistics.mean(every["bare_cpu"]), 3),
        "overhead": round(statistics.median(per_run), 3),
        "overhead_range": rounded([min(per_run), max(per_run)]),
        "overhead_cpu": round(statistics.median(per_run_cpu), 3),
        "overhead_cpu_range": rounded([min(per_run_cpu), max(per_run_cpu)]),
        "overhead_full_speed": round(full_speed, 3),  # wall, the epochs the VM ran at full speed only
        "full_speed_epochs": {"trainer": full_speed_trainer, "bare": full_speed_bare},
        # the part of a trainer epoch spent after fit's epoch: validation, scores, copies, the hook
        "monitor_share": round(statistics.median(monitor_share), 3),
        "monitor_share_range": rounded([min(monitor_share), max(monitor_share)]),
        # of which the validation forward pass: what any trainer that validates each epoch spends
        "validation_share": round(statistics.median(_shares(every["validation"], every["trainer"])), 3),
        "epochs_s": {key: rounded(values) for key, values in every.items()},
        # both arms' models live in this process: the pair's peak (a GPU case runs in a process of its own)
        "gpu_memory": gpu_memory(),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the four goal cases only (the default set)")
    parser.add_argument("--extra", action="store_true", help="the other backbones and mixed precision")
    parser.add_argument("--cases", help="comma-separated backbone@size[:precision]")
    parser.add_argument("--repeats", type=int, help="runs of each arm (default: 3; 1 with --extra)")
    parser.add_argument("--rows", type=int, default=Schedule.rows, help="training rows (validation: a quarter as many)")
    parser.add_argument("--epochs", type=int, default=Schedule.epochs, help="epochs per run; the first is not timed")
    parser.add_argument("--batch", type=int, default=Schedule.batch)
    parser.add_argument("--jit-compile", default="auto", help="XLA for both arms: auto, true, false")
    parser.add_argument("--deterministic", default="auto", help="exact kernels for both arms: auto, true, false")
    parser.add_argument("--gate", type=Path, help="folder of a GpuGate: compile beside other cases, time alone")
    parser.add_argument("--no-cache", action="store_true", help="skip the image-cache timing (it needs the real CSV)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    cases = args.cases.split(",") if args.cases else list(EXTRA_CASES if args.extra else GOAL_CASES)
    repeats = args.repeats or (1 if args.extra else 3)
    from trainer.config import load_config
    from trainer.errors import ConfigError

    try:  # parsed and checked as the trainer's own settings (true | false | auto; not both true)
        flags = load_config(overrides={"jit_compile": args.jit_compile, "deterministic": args.deterministic})
    except ConfigError as error:
        parser.error(str(error))
    schedule = Schedule(args.rows, args.epochs, args.batch, flags.jit_compile, flags.deterministic)
    started = time.perf_counter()
    results = []
    for case in cases:
        results.append(measure(case, repeats, schedule, GpuGate(args.gate) if args.gate else None))
        r = results[-1]
        print(f"{case:>24}: trainer {r['trainer_samples_s']} samples/s, bare fit {r['bare_samples_s']}, "
              f"overhead {100 * r['overhead']:.1f} % (range {100 * r['overhead_range'][0]:.1f} to "
              f"{100 * r['overhead_range'][1]:.1f}); CPU s {100 * r['overhead_cpu']:.1f} % (range "
              f"{100 * r['overhead_cpu_range'][0]:.1f} to {100 * r['overhead_cpu_range'][1]:.1f}); wall at full speed "
              f"{100 * r['overhead_full_speed']:.1f} %; after-epoch work "
              f"{100 * r['monitor_share']:.1f} %, "
              f"of which the validation forward pass {100 * r['validation_share']:.1f} %",
              flush=True)  # fmt: skip
    cache = None if args.no_cache else cache_times(64)
    if cache is not None:
        print(
            f"image cache, {cache['image_rows']} rows at 64 px: build {cache['build_s']} s, reuse {cache['reuse_s']} s"
        )
    import keras

    emit({"bench": "trainer", "mode": "extra" if args.extra else "goal", "machine": machine(),
          "backend": keras.backend.backend(), **asdict(schedule),
          "val_rows": schedule.rows // 4, "throughput": results,
          "max_overhead": max(r["overhead"] for r in results), "cache": cache,
          "total_s": round(time.perf_counter() - started, 1)}, args.out)  # fmt: skip


if __name__ == "__main__":
    main()
