"""What compiling each model once per process buys a worker: a one-worker study, before and after, in turn.

Arms: ``before`` is commit ``--base`` (a git worktree under bench/.work), which built and compiled a new
model for every fold and stage and cleared Keras' session between folds; ``after`` is this checkout, which
keeps one compiled set of models per graph (``trainer.model._compiled``). Each arm runs the same study, one
after the other, never at once: ``dfu-search launch --workers 1 --trials 12 --preset quick --folds 3
--pruner none --no-rules --sampler random --seed S`` on demo data drawn as ``make demo`` draws it, from a
copy of one warmed image and RandomForest cache (the pre-training store starts empty in both and is on, as
by default). The seeded random sampler gives both arms the same configurations, so the trial values can be
compared one by one. Per arm: the CPU seconds of the launcher and its worker (``getrusage`` of the
children), trials per CPU hour, each trial's wall seconds and value, and the worker's RSS at every finished
trial; after the first trial has finished, ``py-spy`` (40 Hz, non-blocking) records the warm worker for
``--profile-seconds`` and :func:`shares` sorts its samples into tracing, executing ops, clearing the
session, the data pipeline and the rest. ``--jax`` adds the JAX backend's persistent compilation cache:
two ``dfu-search train`` processes, one after the other, on one cache folder.

    python bench/compile_once.py                    # → bench/results/compile-once.json (~25 min here)
    python bench/compile_once.py --repeats 2 --jax  # both arms twice, in turn (before, after, after, before)

Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import REPO, WORK, children, cpu_seconds, emit, machine, memory_kb

from search.study import CURVE_COLUMNS

RESULTS = REPO / "bench" / "results"
HERE = WORK / "compile-once"
#: The commit before the compile-once change: every fold and stage compiled a new model.
BASE = "59211bc"
STUDY = ["--workers", "1", "--preset", "quick", "--folds", "3", "--pruner", "none", "--no-rules", "--sampler", "random"]

#: Where a sampled stack is, by the first rule whose words it contains (py-spy frame names), most specific first.
CATEGORIES = (
    ("clearing the session", ("clear_session", "free_memory", "gc.collect")),
    ("tracing and compiling", ("_maybe_define_function", "func_graph_from_py_func", "trace_function",
                               "autograph", "_create_concrete_function", "trace_to_jaxpr", "lower_sharding",
                               "backend_compile", "compile_or_get_cached", "_cached_lowering")),
    ("executing ops", ("quick_execute", "_execute_compiled", "ExecuteReplicated")),
    ("data pipeline (tf.data, per fit and epoch)", ("make_iterator", "data_adapter", "dataset_ops", "epoch_iterator")),
    ("building models", ("build_image_branches", "build_pretrain_model", "build_fusion_model")),
    ("storage and the study", ("optuna", "sqlalchemy", "sqlite3")),
)  # fmt: skip


def shares(raw: Path) -> dict:
    """Shares of a py-spy raw profile's samples taken inside a trial (``Objective.__call__``), by category."""
    counts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if "Objective.__call__" not in stack:
            continue
        stack = stack[stack.index("Objective.__call__") :]  # what the trial calls, not the frames around it
        total += int(n)
        category = next((name for name, words in CATEGORIES if any(w in stack for w in words)), "the rest")
        counts[category] += int(n)
    return {
        "samples": total,
        **{name: round(counts[name] / max(total, 1), 4) for name, _ in (*CATEGORIES, ("the rest", ()))},
    }


def checkout(arm: str, base: str) -> Path:
    if arm == "after":
        return REPO
    folder = HERE / f"checkout-{base}"
    if not folder.is_dir():
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "--force", str(folder), base], check=True,
                       capture_output=True)  # fmt: skip
    return folder


def demo_data() -> tuple[Path, Path]:
    """Demo data as ``make demo`` draws it, and a cache holding its images and the folds' RandomForests."""
    data, warm = HERE / "data", HERE / "warm-cache"
    if not data.is_dir():
        subprocess.run(_dfu("demo-data", str(data), "--shots", "2"), check=True, cwd=REPO, env=_env(REPO))
    if not warm.is_dir():
        # Images preprocessed and each fold's RF fitted: one epoch of each stage, nothing stored.
        subprocess.run(_dfu("train", "--data", str(data), "--preset", "quick", "--folds", "3", "--set",
                            "epochs_pretrain=1", "--set", "epochs_stage1=1", "--set", "epochs_stage2=0",
                            "--no-pretrain-cache", "--cache-dir", str(warm), "--out", str(HERE / "warm-out")),
                       check=True, cwd=REPO, env=_env(REPO), capture_output=True)  # fmt: skip
    return data, warm


def _dfu(*args: str) -> list[str]:
    """A dfu-search command; which checkout runs it is ``_env``'s PYTHONPATH."""
    return [sys.executable, "-m", "search", *args]


def _env(code: Path, **extra: str) -> dict:
    return {**os.environ, "PYTHONPATH": str(code), "PYTHONUNBUFFERED": "1", **extra}


def _finished(db: Path) -> list[tuple]:
    """(number, state, value, wall seconds) of the finished trials, from the study's SQLite file."""
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as connection:
            return connection.execute(
                "select t.number, t.state, v.value, (select value_json from trial_user_attributes a where"
                " a.trial_id = t.trial_id and a.key = 'wall_seconds') from trials t left join trial_values v"
                " on v.trial_id = t.trial_id where t.state in ('COMPLETE', 'PRUNED', 'FAIL') order by t.number"
            ).fetchall()
    except sqlite3.Error:
        return []


def _params(db: Path) -> dict[str, dict]:
    """Each trial's sampled knobs by trial number (as text, a JSON key); a categorical one by its value."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        rows = connection.execute(
            "select t.number, p.param_name, p.param_value, p.distribution_json from trials t"
            " join trial_params p on p.trial_id = t.trial_id"
        ).fetchall()
    params: dict[str, dict] = collections.defaultdict(dict)
    for number, name, value, distribution in rows:
        spec = json.loads(distribution)
        if spec.get("name") == "CategoricalDistribution":
            value = spec["attributes"]["choices"][int(value)]
        params[str(number)][name] = value
    return dict(params)


def _user_attr(db: Path, key: str) -> dict:
    """One user attribute of every trial that has it, by trial number."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        rows = connection.execute(
            "select t.number, a.value_json from trials t join trial_user_attributes a on a.trial_id = t.trial_id"
            " where a.key = ?",
            (key,),
        ).fetchall()
    return {number: json.loads(value) for number, value in rows}


def _curves(db: Path) -> dict[int, list]:
    return _user_attr(db, "curve")


def curve_differences(before_db: Path, after_db: Path) -> dict:
    """How far the arms' records of the same trial lie apart: per-epoch reports at the same step (the study stores
    them to 5 digits: validation QWK, training and validation loss), each fold's QWK, and whether every trial
    ran the same epochs."""
    before, after = _curves(before_db), _curves(after_db)
    columns = {name: CURVE_COLUMNS.index(name) for name in ("val_qwk", "train_loss", "val_loss")}
    largest = dict.fromkeys(columns, 0.0)
    same_epochs = sorted(before) == sorted(after)
    for number in set(before) & set(after):
        same_epochs &= [row[:4] for row in before[number]] == [row[:4] for row in after[number]]
        after_steps = {row[0]: row for row in after[number]}
        for b in before[number]:
            a = after_steps.get(b[0])
            for name, i in columns.items():
                if a is not None and b[i] is not None and a[i] is not None:
                    largest[name] = max(largest[name], abs(b[i] - a[i]))
    rows = {"pretrain": [0, 0], "fusion": [0, 0]}  # [differing, compared] reports at the same step
    for number in set(before) & set(after):
        after_steps = {row[0]: row for row in after[number]}
        for b in before[number]:
            if b[0] in after_steps:
                counts = rows["pretrain" if b[2] == "pretrain" else "fusion"]
                counts[0] += b != after_steps[b[0]]
                counts[1] += 1
    folds_before, folds_after = _folds(before_db), _folds(after_db)
    fold_qwk = [abs(b - a) for n in folds_before for b, a in zip(folds_before[n], folds_after.get(n, []))]
    return {"same_epochs": same_epochs, **{f"largest_{name}_difference": v for name, v in largest.items()},
            "largest_fold_qwk_difference": max(fold_qwk, default=None),
            "folds_with_equal_qwk": f"{sum(d == 0 for d in fold_qwk)} of {len(fold_qwk)}",
            "reports_differing": {stage: f"{n} of {total}" for stage, (n, total) in rows.items()}}  # fmt: skip


def _folds(db: Path) -> dict[int, list[float]]:
    return {number: [fold["qwk"] for fold in folds] for number, folds in _user_attr(db, "folds").items()}


def run_arm(arm: str, code: Path, data: Path, warm: Path, trials: int, seed: int, profile_seconds: float,
            label: str) -> dict:  # fmt: skip
    """One study in its own folder; CPU of the launch tree, per-trial walls, values, RSS and a warm profile."""
    folder = HERE / label
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(warm, folder / "cache")
    db = folder / "study.db"
    command = _dfu("launch", "--study", "compile-once", "--data", str(data), "--trials", str(trials),
                   "--seed", str(seed), *STUDY, "--storage", f"sqlite:///{db}", "--cache-dir", str(folder / "cache"),
                   "--artifacts", str(folder / "artifacts"))  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    launch = subprocess.Popen(command, cwd=code, env=_env(code), stdout=open(folder / "launch.log", "w"),  # noqa: SIM115
                              stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        return _measure(arm, label, code, folder, launch, before, trials, profile_seconds)
    finally:
        if launch.poll() is None:  # interrupted: the launcher stops its worker on SIGTERM
            os.killpg(launch.pid, signal.SIGTERM)
            launch.wait(60)


def _measure(arm: str, label: str, code: Path, folder: Path, launch: subprocess.Popen, before, trials: int,
             profile_seconds: float) -> dict:  # fmt: skip
    """Watch one arm's launcher to its end: RSS at each finished trial, the warm profile, then the totals."""
    db = folder / "study.db"
    started = time.perf_counter()
    rss: dict[int, int] = {}
    profile = folder / "profile.txt"
    spy: subprocess.Popen | None = None
    spy_cpu = 0.0  # py-spy's own CPU seconds (read while it runs), taken out of the arm's
    launcher_cpu = 0.0  # the launcher's own (its live display polls the study), read while it runs
    while launch.poll() is None:
        time.sleep(0.5)
        launcher_cpu = max(launcher_cpu, cpu_seconds(launch.pid))
        workers = [pid for pid in children(launch.pid) if b"worker" in _cmdline(pid)]
        done = _finished(db)
        if workers and done:
            try:
                rss.setdefault(len(done), memory_kb(workers[0])["rss"])
            except (OSError, KeyError):
                pass
            if spy is None and profile_seconds > 0:
                spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--nonblocking", "-r",
                                        "40", "-f", "raw", "-d", str(int(profile_seconds)), "-o", str(profile),
                                        "--pid", str(workers[0])],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        if spy is not None and spy.returncode is None:
            spy_cpu = max(spy_cpu, cpu_seconds(spy.pid))
            spy.poll()
    if spy is not None:
        spy.wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter() - started
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime - spy_cpu
    finished = _finished(db)
    if launch.returncode != 0 or len(finished) != trials:
        sys.exit(f"error: arm {label}: launch exited {launch.returncode} with {len(finished)} of {trials} trials "
                 f"(see {folder / 'launch.log'})")  # fmt: skip
    walls = [float(w) for _, _, _, w in finished]
    return {
        "arm": arm, "label": label, "commit": _commit(code), "trials": trials, "cpu_seconds": round(cpu, 1),
        "wall_seconds": round(wall, 1), "trials_per_cpu_hour": round(trials * 3600 / cpu, 2),
        "trial_wall_median": round(statistics.median(walls), 2), "trial_wall_range": [min(walls), max(walls)],
        "trial_walls": walls, "values": [v for _, _, v, _ in finished], "states": [s for _, s, _, _ in finished],
        "params": _params(db), "rss_kb_by_trials_done": rss,
        "profile": shares(profile) if profile.exists() else None, "profile_seconds": profile_seconds,
        "py_spy_cpu_seconds": round(spy_cpu, 2), "launcher_cpu_seconds": round(launcher_cpu, 1),
    }  # fmt: skip


def _reaped_cpu(before) -> float:
    now = resource.getrusage(resource.RUSAGE_CHILDREN)
    return now.ru_utime + now.ru_stime - before.ru_utime - before.ru_stime


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _commit(code: Path) -> str:
    return subprocess.run(["git", "-C", str(code), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()  # fmt: skip


def jax_cache(data: Path, warm: Path) -> dict:
    """Two ``dfu-search train`` processes on the JAX backend, one after the other, sharing one cache folder:
    the second loads the first's compiled programs. Wall and CPU seconds of each."""
    folder = HERE / "jax"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(warm, folder / "cache")
    runs = []
    for run in ("first (compiles)", "second (loads)"):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        command = _dfu("train", "--data", str(data), "--preset", "quick", "--folds", "3", "--no-pretrain-cache",
                       "--cache-dir", str(folder / "cache"), "--out", str(folder / f"out-{len(runs)}"))  # fmt: skip
        subprocess.run(command, check=True, cwd=REPO, env=_env(REPO, KERAS_BACKEND="jax"), capture_output=True)
        entries = sum(1 for _ in (folder / "cache" / "xla").rglob("*") if _.is_file())
        runs.append({"run": run, "wall_seconds": round(time.perf_counter() - started, 1),
                     "cpu_seconds": round(_reaped_cpu(before), 1), "cache_entries": entries})  # fmt: skip
    first, second = (json.loads((folder / f"out-{i}" / "result.json").read_text())["folds"] for i in (0, 1))
    return {"runs": runs, "speed-up_cpu": round(runs[0]["cpu_seconds"] / runs[1]["cpu_seconds"], 2),
            "same_result": first == second}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default=BASE, help=f"the 'before' commit (default {BASE})")
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0, help="the study's seed: the random sampler's configurations")
    parser.add_argument(
        "--repeats", type=int, default=1, help="runs of each arm, in turn: before, after, after, before…"
    )
    parser.add_argument("--profile-seconds", type=float, default=90, help="py-spy window once the first trial is done")
    parser.add_argument("--arms", default="before,after", help="which arms to run (a trial run: --arms after)")
    parser.add_argument("--jax", action="store_true", help="also the JAX persistent compilation cache")
    parser.add_argument("--out", type=Path, help="default: results/compile-once.json (one arm: compile-once-ARM.json)")
    parser.add_argument("--summarize", type=Path, help="only summarize again the runs of this result file")
    args = parser.parse_args()
    if args.summarize:  # the arms' studies are still under bench/.work/compile-once
        old = json.loads(args.summarize.read_text())
        emit(summarize(old["runs"], old["base"], old["trials"], old["seed"], old["jax"]), args.summarize)
        return
    data, warm = demo_data()
    order = [("before", "after"), ("after", "before")]
    runs = []
    alone = "" if set(args.arms.split(",")) == {"before", "after"} else "-alone"  # a one-arm run keeps its own folder
    for repeat in range(args.repeats):
        for arm in (a for a in order[repeat % 2] if a in args.arms.split(",")):
            code = checkout(arm, args.base)
            label = f"{arm}-{repeat}{alone}"
            runs.append(run_arm(arm, code, data, warm, args.trials, args.seed, args.profile_seconds, label))
            print(f"{arm}: {runs[-1]['trials_per_cpu_hour']} trials per CPU hour", file=sys.stderr, flush=True)
    if {r["arm"] for r in runs} != {"before", "after"}:
        out = args.out or RESULTS / f"compile-once-{args.arms.replace(',', '-')}.json"
        emit({"benchmark": "compile_once", "partial": True, "machine": machine(), "runs": runs}, out)
        return
    jax = jax_cache(data, warm) if args.jax else None
    emit(summarize(runs, args.base, args.trials, args.seed, jax), args.out or RESULTS / "compile-once.json")


def summarize(runs: list[dict], base: str, trials: int, seed: int, jax: dict | None) -> dict:
    """The arms side by side: trials per CPU hour (median and range over repeats), and how the first repeat's
    trials compare (configurations, values, per-epoch reports and fold QWKs, read from the arms' studies)."""
    for run in runs:  # the sampled knobs, read again (categorical choices by value)
        run["params"] = _params(HERE / run["label"] / "study.db")
    summary = {}
    for arm in ("before", "after"):
        mine = [r for r in runs if r["arm"] == arm]
        rates = [r["trials_per_cpu_hour"] for r in mine]
        summary[arm] = {"trials_per_cpu_hour_median": statistics.median(rates), "range": [min(rates), max(rates)],
                        "trial_wall_median": statistics.median(w for r in mine for w in r["trial_walls"])}  # fmt: skip
    first_before = next(r for r in runs if r["arm"] == "before")
    first_after = next(r for r in runs if r["arm"] == "after")
    differences = [abs(a - b) for a, b in zip(first_before["values"], first_after["values"]) if None not in (a, b)]
    return {
        "benchmark": "compile_once", "machine": machine(), "base": base, "trials": trials, "seed": seed,
        "summary": summary,
        "speed_up_trials_per_cpu_hour": round(summary["after"]["trials_per_cpu_hour_median"]
                                              / summary["before"]["trials_per_cpu_hour_median"], 2),
        "same_configurations": first_before["params"] == first_after["params"],
        "trials_with_equal_values": sum(d == 0 for d in differences),
        "largest_value_difference": max(differences) if differences else None,
        "curves": curve_differences(HERE / first_before["label"] / "study.db", HERE / first_after["label"] / "study.db"),
        "runs": runs, "jax": jax,
    }  # fmt: skip


if __name__ == "__main__":
    main()
