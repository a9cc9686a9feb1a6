"""The "Load held" section of ``bench/README.md``: scale sweep, faults, study size, worker memory, storage share."""

from __future__ import annotations

import json

from _readme_tables import RESULTS, current_paths, table

CALLS = ("ask", "report", "should_prune", "set_attr", "tell")
#: Epoch times the storage share is given for (docs/storage.md says why these).
QUICK_CPU_EPOCH_S = 1.4  # the quick preset's epoch per worker, 2 workers on this VM (results/pretrain-store.json)
GPU_EPOCH_S = 1.0  # EfficientNetB3 at 256 px on an H200-class GPU, assumed: ~1,800 training rows at ~2,500 img/s


def _worker_errors(log_counts: dict[str, int]) -> int:
    """ERROR lines of the worker module, whichever name its logger had (it was public when older runs logged)."""
    return sum(n for key, n in log_counts.items() if key.startswith("search.workers.") and key.endswith("worker:ERROR"))


def _load(name: str) -> dict | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.is_file() else None


def _ms(value: float | None) -> str:
    return "—" if value is None else (f"{value:.0f}" if value >= 10 else f"{value:.1f}")


def storage_share(run: dict, epoch_s: float) -> float:
    """The share of a trial's wall time its workers spend waiting on blocking storage calls, at ``epoch_s``.

    Per trial: the calls' measured mean latency × their count per trial (heartbeats run on their own thread and
    block nothing), against the epochs a trial trained in this run × ``epoch_s``."""
    if not run["latency_ms"]:
        return float("nan")
    trials = max(run["integrity"]["finished"], 1)
    waited = sum(run["latency_ms"][c]["mean"] * run["latency_ms"][c]["n"] for c in (*CALLS, "budget")
                 if c in run["latency_ms"]) / 1000 / trials  # fmt: skip
    training = run["epochs_trained"] / trials * epoch_s
    return waited / (waited + training)


def _share(run: dict) -> str:
    quick, gpu = storage_share(run, QUICK_CPU_EPOCH_S), storage_share(run, GPU_EPOCH_S)
    return "—" if quick != quick else f"{100 * quick:.1f} / {100 * gpu:.1f}"


def _sweep(result: dict) -> str:
    rows = []
    for run in result["runs"]:
        lat = run["latency_ms"]
        integrity = run["integrity"]
        cpu = run["cpu_s"]
        rows.append([
            run.get("label", run["via"]), run["workers"], f"{run['trials_per_s']:.2f}", f"{run['reports_per_s']:.0f}",
            *(_ms(lat.get(c, {}).get("p99")) for c in CALLS), run["peak_connections"], run["peak_lock_waits"], run["errors"],
            run["retries_logged"], f"{integrity['lost']} / {integrity['duplicated']} / {integrity['running']}",
            f"{integrity['overshoot']}", f"{cpu['postgres']:.0f} / {cpu['generators']:.0f}"
            + (f" / {cpu['proxy']:.0f}" if cpu.get("proxy") is not None else "") + f" of {cpu['available']:.0f}",
            _share(run),
        ])  # fmt: skip
    epoch = result["runs"][0]["epoch_seconds"]
    notes = "".join(
        f"\n\n{run.get('label', run['via'])}, {run['workers']} workers: {current_paths(run['note'])}."
        for run in result["runs"]
        if run.get("note")
    )
    return (
        f"`python bench/scale.py sweep --epoch-seconds {epoch:g} --via direct|proxy` (`results/scale-sweep-*.json`): "
        "simulated workers "
        f"(the real worker around the recorded curves of data seed 0, one epoch every {epoch:g} s), a budget of one "
        "finished trial per worker (at least 20), TPE and the default pruner, against one PostgreSQL server "
        "(fsync off) on this 2-core VM, directly and through one `dfu-search proxy`.\n\n"
        + table(
            [
                "via",
                "workers",
                "trials/s",
                "reports/s",
                *(f"p99 {c} ms" for c in CALLS),
                "peak conns",
                "peak lock waits",
                "errors",
                "retries",
                "lost / dup / RUNNING",
                "overshoot",
                "CPU s: PG / load / proxy",
                f"storage share % at {QUICK_CPU_EPOCH_S:g} s / {GPU_EPOCH_S:g} s epochs",
            ],
            rows,
        )  # fmt: skip
        + notes
        + "\n"
    )


def _faults(result: dict) -> str:
    rows = []
    for run in result["runs"]:
        fault, integrity = run["fault"], run["integrity"]
        what = {"restart": "`pg_ctl restart -m fast`", "kill": f"SIGKILL 1 process = {run['workers'] // run['processes']} workers",
                "terminate": f"`pg_terminate_backend` × {fault.get('backends_terminated', '?')} over "
                             f"{fault.get('seconds', fault.get('times', '?'))} s"}[fault["kind"]]  # fmt: skip
        recovered = fault.get("requeued_after_s") if fault["kind"] == "kill" else fault.get("recovered_after_s")
        rows.append([what, f"{fault['fault_at_s']:.0f}", integrity["lost"], integrity["duplicated"], integrity["running"],
                     integrity["overshoot"], run["errors"], run["retries_logged"],
                     _worker_errors(run["log_counts"]), "—" if recovered is None else recovered,
                     "yes" if run["whole"] else "**no**"])  # fmt: skip
    notes = "".join(f"\n\n{run['fault']['kind']}: {run['note']}." for run in result["runs"] if run.get("note"))
    return (
        f"Faults at {result['runs'][0]['workers']} workers (`python bench/scale.py faults`, `results/scale-faults.json`; "
        f"epochs of {result['runs'][0]['epoch_seconds']:g} s, heartbeat every 2 s, grace 26 s, outage limit 20 s):\n\n"
        + table(
            [
                "fault",
                "at s",
                "lost",
                "duplicated",
                "RUNNING",
                "overshoot",
                "worker errors",
                "retries",
                "live trials taken for stale",
                "whole again after s",
                "study whole",
            ],
            rows,
        )  # fmt: skip
        + '\n\n"Whole again": for the kill, until the heartbeat sweep had failed and re-queued every trial of the '
        'killed workers; otherwise until reports flowed at half their rate before the fault. "Live trials taken for '
        'stale": trials of running workers whose heartbeats, starved on the saturated VM, came later than the 26-s '
        "grace: the sweep failed and re-queued them (nothing lost; their workers were told `Cannot tell a FAIL "
        "trial`, a trial's worth of work wasted each)." + notes + "\n"
    )


def _size(result: dict) -> str:
    names = list(dict.fromkeys(n for row in result["rows"] for n in row if n not in ("trials", "run")))
    rows = [[row.get("run", 1), row["trials"],
             *(f"{row[n]['median_ms']:.0f} ({row[n]['max_ms']:.0f})" if n in row else "—" for n in names)]
            for row in result["rows"]]  # fmt: skip
    runs = "".join(
        f"\n- run {k}: `{v.split(' (')[0]}` ({current_paths(v.split(' (', 1)[1])}" for k, v in result.get("runs", {}).items()
    )
    return (
        "Cost as the study grows (`python bench/scale.py study-size`, `results/scale-study-size.json`): ms, median "
        f"(max) of {result['repeats']}; cold = a worker's first trial (its first read fills Optuna's trial cache), "
        "warm = its next." + runs + "\n\n" + table(["run", "finished trials", *names], rows) + "\n"
    )


def _memory(result: dict) -> str:
    rows = [[r["arm"], r["image_size"], r["workers"], f"{r['rss_mb_per_worker']:.0f}", f"{r['pss_mb_per_worker']:.0f}",
             f"{r['private_dirty_mb_per_worker']:.0f}", f"{r['pss_mb_all_workers']:.0f}"] for r in result["rows"]]  # fmt: skip
    return (
        "Memory of workers on one machine (`python bench/worker_memory.py --before REV`, "
        "`results/worker-memory.json`): real `dfu-search train` processes started together, quick preset, the "
        f"890 visits with {result['shots']} shots (~2,670 image rows a modality), peaks over the first "
        f"{result['seconds']:.0f} s; before = the image cache loaded into each process, after = memory-mapped. One run "
        "a row; 4 workers share 2 cores, so each gets less far in the window and its peak comes from an earlier "
        "phase. The cache's pages are shared after the change (private dirty falls by about the cache's size), but "
        "most of a worker's image memory stays private: each fold copies its rows and Keras copies the training "
        "split.\n\n"
        + table(
            [
                "arm",
                "px",
                "workers",
                "RSS MB / worker",
                "PSS MB / worker",
                "private dirty MB / worker",
                "PSS MB, all workers",
            ],
            rows,
        )  # fmt: skip
        + "\n"
    )


def _sweeps() -> dict | None:
    """The sweeps as one table: direct and through the proxy, and direct again after the row read (storage/_trial_reads.py)."""
    names = ("scale-sweep-direct.json", "scale-sweep-proxy.json", "scale-sweep-direct-row-reads.json")
    found = [r for r in map(_load, names) if r]
    return {"runs": [run for r in found for run in r["runs"]]} if found else None


def scale() -> str:
    parts = [(_sweeps(), _sweep), (_load("scale-faults.json"), _faults), (_load("scale-study-size.json"), _size),
             (_load("worker-memory.json"), _memory)]  # fmt: skip
    found = [(render, result) for result, render in parts]
    if not any(result for _, result in found):
        return ""
    return "## Load held: many workers on one PostgreSQL\n\n" + "\n".join(r(d) for r, d in found if d)
