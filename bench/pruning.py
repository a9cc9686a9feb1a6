"""What pruning saves, measured the way LCBench / Syne Tune judge pruners: record whole learning curves
once, then replay them through every strategy over many orderings; then check the prediction live.

    python bench/pruning.py record --data-seed 0     # a study without pruning → curves file (≈ 30 min)
    python bench/pruning.py replay --data-seed 0     # replay.json + anytime.png from the curves file
    python bench/pruning.py live --data-seed 0       # ours vs stock median, one live study each, one after the other
    python bench/pruning.py record --data-seed 0 --resume --trials 64   # grow a recording (new sampler seeds)
    python bench/pruning.py signal --data-seed 0     # what predicts a trial's final value, and when

``record`` runs ``dfu-search launch --pruner none --no-rules --sampler random`` (an unbiased sample of the
default space) on demo images drawn for the real metadata's 890 visits (calibrated images, data seed S),
then ``dfu-search replay --save-curves`` exports the curves into ``bench/results/``. Every command it runs
is printed and kept in the result JSON, so a table can be reproduced exactly.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
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
    warm_caches,
)

RESULTS = REPO / "bench" / "results"
#: Which recording: "v2", the trainer users run now. (The v1 recordings, before the pre-training store and the
#: learning fusion weight, are frozen in results/historical/: today's trainer cannot record them again.)
TABLE = "v2"


def result_path(kind: str, seed: int, suffix: str = "", table: str | None = None) -> Path:
    """``bench/results/pruning[-TABLE][-KIND]-seedS[SUFFIX]`` (no KIND: the folder ``dfu-search replay`` writes
    replay.json and anytime.png to). ``table``: default --table."""
    table = table or TABLE
    parts = ["pruning", table, *([kind] if kind else []), f"seed{seed}"]
    return RESULTS / ("-".join(parts) + suffix)


# The quick preset at 32 px, 1 shot a visit: a whole unpruned trial (3 folds) in ~35 s on 2 cores.


def _study_args(name: str, db: Path, data: Path, seed: int, trials: int, workers: int, cache: Path = WORK / "cache",
                sampler: str | None = "random") -> list[str]:  # fmt: skip
    """``launch`` on the recording's data and settings; ``sampler`` None: the default (TPE), as a user runs it."""
    sets = [a for s in RECORD_SETS for a in ("--set", s)]
    return ["launch", "--study", name, "--storage", f"sqlite:///{db}", "--data", str(data), "--preset", "quick",
            "--folds", str(FOLDS), *sets, "--trials", str(trials), "--workers", str(workers), "--seed", str(seed),
            *(["--sampler", sampler] if sampler else []), "--cache-dir", str(cache),
            "--log-dir", str(WORK / "logs" / name)]  # fmt: skip


def record(seed: int, trials: int, workers: int) -> dict:
    data = real_demo_data(None, SHOTS, seed)
    name = f"record-{TABLE}-seed{seed}"
    db = WORK / f"{name}.db"
    db.unlink(missing_ok=True)
    curves = result_path("curves", seed, ".json.gz")
    commands = [
        dfu_command(*_study_args(name, db, data, seed, trials, workers), "--pruner", "none", "--no-rules"),
        dfu_command("replay", "--study", name, "--storage", f"sqlite:///{db}", "--save-curves", str(curves),
             "--out", str(result_path("", seed))),
    ]  # fmt: skip
    started = time.perf_counter()
    cpu = run_timed(commands[0], WORK / f"{name}.log")
    wall = time.perf_counter() - started
    run_timed(commands[1], WORK / f"{name}-replay.log")
    return {"record_wall_s": round(wall, 1), "record_cpu_s": round(cpu, 1), "curves": str(curves.relative_to(REPO)),
            "curves_bytes": curves.stat().st_size, "commands": [shown(c) for c in commands]}  # fmt: skip


def extend(seed: int, trials: int, workers: int) -> dict:
    """Grow an existing recording to ``trials`` complete trials. The new workers get sampler indices the first
    run never used (100, 101, ...), so the random sampler draws new configs instead of repeating the first ones."""
    import optuna

    data = real_demo_data(None, SHOTS, seed)
    name = f"record-{TABLE}-seed{seed}"
    db = WORK / f"{name}.db"
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{db}")
    finished = sum(t.state.name == "COMPLETE" for t in study.trials)
    curves = result_path("curves", seed, ".json.gz")
    resume = dfu_command(*_study_args(name, db, data, seed, trials - finished, 0), "--pruner", "none", "--no-rules")
    joins = [dfu_command("worker", "--study", name, "--storage", f"sqlite:///{db}", "--index", str(100 + k),
                  "--cache-dir", str(WORK / "cache")) for k in range(workers)]  # fmt: skip
    save = dfu_command("replay", "--study", name, "--storage", f"sqlite:///{db}", "--save-curves", str(curves),
                "--out", str(result_path("", seed)))  # fmt: skip
    run_timed(resume, WORK / f"{name}-resume.log")
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    processes = []
    for k, command in enumerate(joins):  # one core each, as the launcher would pin them
        print(f"$ {shown(command)}", flush=True)
        log = open(WORK / f"{name}-worker-{100 + k}.log", "w")
        env = dict(os.environ, OMP_NUM_THREADS="1", TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1",
                   CUDA_VISIBLE_DEVICES="")  # fmt: skip
        processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env,
                                          preexec_fn=lambda k=k: os.sched_setaffinity(0, {k % os.cpu_count()})))  # fmt: skip
    codes = [p.wait() for p in processes]
    if any(codes):
        sys.exit(f"error: a worker failed with exit {codes} (logs in {WORK})")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter() - started
    run_timed(save, WORK / f"{name}-replay.log")
    return {"extend_wall_s": round(wall, 1), "extend_cpu_s": round(after.ru_utime - before.ru_utime, 1),
            "from_trials": finished, "curves": str(curves.relative_to(REPO)), "curves_bytes": curves.stat().st_size,
            "commands": [shown(c) for c in (resume, *joins, save)]}  # fmt: skip


def signal(seed: int) -> dict:
    """Spearman correlation with the final value of (a) fold 0's QWK after each epoch of each stage, (b) each
    sampled knob: which reports a pruner can trust, and which knob decides the study."""
    from scipy.stats import spearmanr

    from search.replay import load_recording

    recording = load_recording(result_path("curves", seed, ".json.gz"))
    finals = [t.value for t in recording.trials]
    by_step = []
    for stage, epochs in zip(("pretrain", "stage1", "stage2"), recording.layout.epochs):
        for epoch in range(1, epochs + 1):
            pairs = [(max(r[4] for r in t.curve if r[1] == 0 and r[2] == stage and r[3] <= epoch), f)
                     for t, f in zip(recording.trials, finals)
                     if any(r[1] == 0 and r[2] == stage and r[3] <= epoch for r in t.curve)]  # fmt: skip
            if len(pairs) >= 10:
                rho = spearmanr(*zip(*pairs))[0]
                by_step.append(
                    {"fold": 0, "stage": stage, "epoch": epoch, "trials": len(pairs), "spearman": round(float(rho), 3)}
                )
    knobs = {k: round(float(spearmanr([t.params[k] for t in recording.trials], finals)[0]), 3)
             for k in recording.trials[0].params}  # fmt: skip
    for row in by_step:
        print(f"fold 0 {row['stage']:8s} epoch {row['epoch']}: ρ = {row['spearman']:+.2f} ({row['trials']} trials)")
    print("knobs:", ", ".join(f"{k} ρ = {v:+.2f}" for k, v in knobs.items()))
    return {"trials": len(finals), "fold0_best_so_far_vs_final": by_step, "knob_vs_final": knobs}


def replay(seed: int, orderings: int, ordering_seed: int) -> dict:
    curves = result_path("curves", seed, ".json.gz")
    out = result_path("", seed)
    command = dfu_command("replay", "--curves", str(curves), "--orderings", str(orderings), "--seed", str(ordering_seed),
                   "--out", str(out))  # fmt: skip
    started = time.perf_counter()
    run_timed(command, WORK / f"replay-seed{seed}.log")
    document = json.loads((out / "replay.json").read_text())
    return {"replay_wall_s": round(time.perf_counter() - started, 1), "command": shown(command), **document}


def live(seed: int, trials: int) -> dict:
    """The default against what a user of plain Optuna gets (stock median, no rules, no pre-training store),
    one study after the other on the same data, seed and budget, each with the ``degenerate`` preset
    enqueued. The default sampler (TPE, seeded) in both: what each user would run. Each arm starts with a
    cold pre-training store; the image and RF caches are built before either."""
    from trainer.stages import FOLDER

    data = real_demo_data(None, SHOTS, seed)
    cache = WORK / f"live-cache-seed{seed}"
    warm_caches(data, cache)
    arms = {}
    for arm, extra in (("default", []), ("median, no rules, no store", ["--pruner", "median", "--no-rules",
                                                                       "--no-pretrain-cache"])):  # fmt: skip
        name = f"live-{TABLE}-{'default' if arm == 'default' else 'median'}-seed{seed}"
        db = WORK / f"{name}.db"
        db.unlink(missing_ok=True)
        shutil.rmtree(cache / FOLDER, ignore_errors=True)
        args = _study_args(name, db, data, seed, trials, 2, cache=cache, sampler=None)
        command = dfu_command(*args, "--enqueue", "degenerate", *extra)
        started = time.perf_counter()
        cpu = run_timed(command, WORK / f"{name}.log")
        arms[arm] = {"wall_s": round(time.perf_counter() - started, 1), "cpu_s": round(cpu, 1),
                     "command": shown(command), **study_summary(name, db)}  # fmt: skip
    return {"live": arms}


def main() -> None:
    global TABLE
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("record", "replay", "live", "signal"))
    parser.add_argument("--resume", action="store_true", help="record: grow the existing recording to --trials")
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the demo images and of the study")
    parser.add_argument("--trials", type=int, default=None, help="record: 64; live: 16")
    parser.add_argument("--workers", type=int, default=2, help="record: local workers")
    parser.add_argument("--orderings", type=int, default=200)
    parser.add_argument("--ordering-seed", type=int, default=0, help="replay: seed of the random orderings")
    parser.add_argument("--table", default=TABLE, choices=("v2",), help="the recording: v2, the trainer now")
    args = parser.parse_args()
    TABLE = args.table
    WORK.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if args.action == "record" and args.resume:
        result = extend(args.data_seed, args.trials or 64, args.workers)
    elif args.action == "record":
        result = record(args.data_seed, args.trials or 64, args.workers)
    elif args.action == "signal":
        result = signal(args.data_seed)
    elif args.action == "replay":
        result = replay(args.data_seed, args.orderings, args.ordering_seed)
    else:
        result = live(args.data_seed, args.trials or 16)
    result = {"bench": f"pruning-{args.action}", "data_seed": args.data_seed, "machine": machine(),
              "wall_s": round(time.perf_counter() - started, 1), **result}  # fmt: skip
    emit({**result, "table": TABLE}, result_path(args.action, args.data_seed, ".json"))


if __name__ == "__main__":
    main()
