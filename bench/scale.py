"""Load held: simulated workers against a real PostgreSQL, directly and through ``dfu-search proxy``.

    python bench/scale.py sweep                  # 10…500 workers, direct and proxy → results/scale-sweep.json
    python bench/scale.py faults                 # 100 workers: restart, SIGKILL 10 %, pg_terminate_backend
    python bench/scale.py study-size             # TPE ask and the pruner's reads at 100/1,000/5,000 trials
    python bench/scale.py sweep --workers 20 --via direct --budget 40     # one small run

A simulated worker is the real worker around a replayed trainer (:mod:`search.replay._simulated_worker`): the
study's sampler and pruner, the degeneracy rules, one report per epoch, heartbeats, the retry paths; its
epochs are the recorded curves of ``results/pruning-v2-curves-seed0.json.gz``, one every
``--epoch-seconds``. Workers run as threads, ``--per-process`` to a load-generator process
(``bench/_scale_load.py``). The PostgreSQL server is started here (as the tests start theirs: fsync off).

This machine has 2 cores for the database, the proxy and the load generators together; every run reports
the CPU seconds of each, so a knee can be put down to what saturated.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from _common import CURVES, REPO, WORK, cpu_seconds, emit, machine, postgres_server, process_tree_cpu

if TYPE_CHECKING:
    from _postgres import PostgresServer  # tests/_postgres.py: the tests' server

RESULTS = REPO / "bench" / "results"
OUTAGE_LIMIT = 20  # s: rides out a restart; the heartbeat grace is this + 3 intervals, as a worker's default
CALLS = ("ask", "report", "should_prune", "set_attr", "tell", "heartbeat", "budget")
log = logging.getLogger("scale")


def _percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)) * 1000, 2) if values else None  # milliseconds


class _Sampler(threading.Thread):
    """Every half second: client connections to the study's database (peak), and those waiting on a lock."""

    def __init__(self, server: PostgresServer, database: str) -> None:
        super().__init__(daemon=True)
        self.server, self.database = server, database
        self.peak = self.lock_waits_peak = 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.5):
            try:
                (connections, waiting), = self.server.query(
                    "select count(*), count(*) filter (where wait_event_type = 'Lock') from pg_stat_activity "
                    f"where datname = '{self.database}' and backend_type = 'client backend'")  # fmt: skip
            except Exception:  # noqa: BLE001  (the server may be restarting: a fault run)
                continue
            self.peak = max(self.peak, connections - 1)  # not this query's own connection
            self.lock_waits_peak = max(self.lock_waits_peak, waiting)


def _start_proxy(url: str, port: int, log_file: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "search", "proxy", "--storage", url, "--port", str(port)]
    process = subprocess.Popen(command, cwd=REPO, stdout=open(log_file, "w"), stderr=subprocess.STDOUT)  # noqa: SIM115
    deadline = time.time() + 60
    while "proxy for" not in log_file.read_text():
        if process.poll() is not None or time.time() > deadline:
            raise RuntimeError(f"the proxy did not start: {log_file.read_text()[-500:]}")
        time.sleep(0.2)
    time.sleep(1.0)  # it prints before it binds
    return process


def load_run(
    server: PostgresServer,
    workers: int,
    via: str = "direct",
    epoch_seconds: float = 1.0,
    budget: int | None = None,
    per_process: int = 50,
    fault: dict | None = None,
    sampler: str = "tpe",
    timeout: float = 900,
    heartbeat: int = 30,
) -> dict:
    """One study: ``workers`` simulated workers until ``budget`` finished trials; everything the issue asks."""
    import optuna

    from search.pruners import DEFAULT_PRUNER
    from search.replay import load_recording, simulated_settings
    from search.study import check_integrity
    from storage import open_storage

    budget = budget or max(20, workers)
    url = server.create_database()
    database = url.rsplit("/", 1)[1]
    storage = open_storage(url, None)
    study = optuna.create_study(study_name="scale", storage=storage, direction="maximize")
    simulated_settings(load_recording(CURVES), budget, DEFAULT_PRUNER, sampler).save(study)
    run_dir = WORK / "scale" / f"{via}-{workers}-{fault['kind'] if fault else 'none'}"
    run_dir.mkdir(parents=True, exist_ok=True)
    proxy = None
    worker_url = url
    if via == "proxy":
        port = 13000 + workers % 1000
        proxy = _start_proxy(url, port, run_dir / "proxy.log")
        worker_url = f"grpc://127.0.0.1:{port}"
    groups = [min(per_process, workers - first) for first in range(0, workers, per_process)]
    pg_cpu0 = server_cpu(server)
    proxy_cpu0 = cpu_seconds(proxy.pid) if proxy else 0.0
    t0 = time.time()
    load = ["--study", "scale", "--storage", worker_url, "--curves", str(CURVES), "--epoch-seconds", str(epoch_seconds),
            "--t0", str(t0), "--heartbeat", "0" if via == "proxy" else str(heartbeat),
            "--grace", str(OUTAGE_LIMIT + 3 * heartbeat)]  # fmt: skip
    generators = _start_generators(run_dir, groups, per_process, load)
    sampler_thread = _Sampler(server, database)
    sampler_thread.start()
    fault_log = _Fault(fault, server, generators, database, t0) if fault else None
    if fault_log is not None:
        fault_log.start()
    _wait_for(generators, proxy, deadline=t0 + timeout)
    wall = time.time() - t0
    sampler_thread.halt.set()
    pg_cpu = server_cpu(server) - pg_cpu0
    proxy_cpu = (cpu_seconds(proxy.pid) - proxy_cpu0) if proxy else None
    if proxy:
        proxy.send_signal(signal.SIGINT)
        try:
            proxy.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proxy.kill()
    outputs = [json.loads(out.read_text()) for _, out in generators if out.is_file()]
    if fault_log is not None:
        fault_log.join()
    calls: dict[str, list] = {name: [] for name in CALLS}
    for output in outputs:
        for name, values in output["calls"].items():
            calls[name].extend(values)
    finished = optuna.load_study(study_name="scale", storage=storage)
    integrity = check_integrity(finished, budget)
    epochs_trained = sum(int(t.user_attrs.get("epochs_trained", 0)) for t in finished.get_trials(deepcopy=False))
    retries = sum(n for o in outputs for k, n in o["log_counts"].items() if k.startswith("storage._resilient"))
    reports = len(calls["report"])
    result = {
        "workers": workers,
        "via": via,
        "epoch_seconds": epoch_seconds,
        "heartbeat_s": heartbeat if via == "direct" else None,
        "budget": budget,
        "processes": len(groups),
        "wall_s": round(wall, 1),
        "trials_per_s": round(integrity.finished / wall, 2),
        "reports_per_s": round(reports / wall, 1),
        "epochs_trained": epochs_trained,  # simulated epochs slept (pre-trainings from the store cost none)
        "latency_ms": _latencies(calls),
        "peak_connections": sampler_thread.peak,
        "peak_lock_waits": sampler_thread.lock_waits_peak,
        "errors": sum(len(o["errors"]) for o in outputs),
        "error_samples": [e for o in outputs for e in o["errors"]][:5],
        "generators_missing": len(groups) - len(outputs),
        "retries_logged": retries,
        "log_counts": _merge([o["log_counts"] for o in outputs]),
        "log_samples": {k: v for o in outputs for k, v in o["log_samples"].items()},
        "cpu_s": {
            "generators": round(sum(o["cpu_s"] for o in outputs), 1),
            "postgres": round(pg_cpu, 1),
            "proxy": round(proxy_cpu, 1) if proxy_cpu is not None else None,
            "available": round(wall * len(os.sched_getaffinity(0)), 1),
        },  # fmt: skip
        "integrity": integrity.as_dict(),
        "whole": integrity.whole(workers),
    }
    if fault_log is not None:
        result["fault"] = {**fault, **fault_log.result, **_recovery(calls["report"], fault_log.result)}
    return result


def _start_generators(run_dir: Path, groups: list[int], per_process: int, load: list[str]) -> list:
    """One ``bench/_scale_load.py`` process per group of simulated workers: [(process, its output file)]."""
    env = {**os.environ, "DFU_SEARCH_OUTAGE_LIMIT": str(OUTAGE_LIMIT), "PYTHONPATH": str(REPO)}
    generators = []
    for k, n in enumerate(groups):
        out = run_dir / f"gen{k}.json"
        out.unlink(missing_ok=True)
        command = [sys.executable, str(REPO / "bench" / "_scale_load.py"), *load, "--first", str(k * per_process),
                   "--workers", str(n), "--out", str(out)]  # fmt: skip
        generators.append((subprocess.Popen(command, env=env, stdout=open(run_dir / f"gen{k}.log", "w"),  # noqa: SIM115
                                            stderr=subprocess.STDOUT), out))  # fmt: skip
    return generators


def _wait_for(generators: list, proxy: subprocess.Popen | None, deadline: float) -> None:
    """Every generator's end, or the deadline; whatever still runs then (or when the benchmark is stopped) is killed."""
    try:
        for process, _ in generators:
            process.wait(timeout=max(1.0, deadline - time.time()))
    finally:  # timed out, or the benchmark was stopped: stop what it started
        for process, _ in generators:
            if process.poll() is None:
                process.kill()
                process.wait()
        if proxy and proxy.poll() is None and sys.exc_info()[0] is not None:
            proxy.kill()


def _latencies(calls: dict[str, list]) -> dict:
    """Each storage call's latency over every simulated worker: count, mean and percentiles in milliseconds."""
    return {
        name: {
            "n": len(values),
            "mean": round(float(np.mean([v for _, v in values])) * 1000, 2),
            "p50": _percentile([v for _, v in values], 50),
            "p99": _percentile([v for _, v in values], 99),
            "max": _percentile([v for _, v in values], 100),
        }
        for name, values in calls.items()
        if values
    }


def _merge(counts: list[dict]) -> dict:
    merged: dict[str, int] = {}
    for c in counts:
        for k, n in c.items():
            merged[k] = merged.get(k, 0) + n
    return merged


def server_cpu(server: PostgresServer) -> float:
    """CPU seconds of the PostgreSQL server: the postmaster, its live children, and the children it reaped."""
    pid = int((server.data / "postmaster.pid").read_text().split()[0])
    return process_tree_cpu(pid)


class _Fault(threading.Thread):
    """Injects one fault at ``at_s`` seconds into the run and records when and what it did."""

    def __init__(self, fault: dict, server: PostgresServer, generators: list, database: str, t0: float) -> None:
        super().__init__(daemon=True)
        self.fault, self.server, self.generators, self.database, self.t0 = fault, server, generators, database, t0
        self.result: dict = {}

    def run(self) -> None:
        kind, at = self.fault["kind"], self.fault.get("at_s", 15.0)
        time.sleep(max(0.0, self.t0 + at - time.time()))
        started = time.time() - self.t0
        if kind == "restart":
            self.server.restart_server()
            self.result = {"fault_at_s": round(started, 2), "fault_done_s": round(time.time() - self.t0, 2)}
        elif kind == "kill":
            process, _ = self.generators[0]  # one process of ``per_process`` workers: 10 % at 100 workers
            stuck_sql = self._stuck_sql(process.pid)
            process.send_signal(signal.SIGKILL)
            self.result = {"fault_at_s": round(started, 2), "killed_pid": process.pid}
            stuck = self._query(stuck_sql)
            self.result["running_when_killed"] = stuck
            while stuck and time.time() - self.t0 < started + 300:  # until the heartbeat sweep has re-queued them
                time.sleep(0.5)
                stuck = self._query(stuck_sql)
            self.result["requeued_after_s"] = round(time.time() - self.t0 - started, 1) if not stuck else None
        elif kind == "terminate":  # backends with work in flight: inside a statement or a transaction
            import psycopg

            by_state: dict[str, int] = {}
            end = time.time() + float(self.fault.get("seconds", 20))
            # one connection, held: the backends are polled ten times a second
            with psycopg.connect(self.server.url(), autocommit=True) as connection:
                while time.time() < end:
                    rows = connection.execute(
                        "select state, pg_terminate_backend(pid) from (select pid, state from pg_stat_activity "
                        f"where datname = '{self.database}' and application_name like 'dfu-search:%' "
                        "and state in ('active', 'idle in transaction') "
                        f"order by random() limit {int(self.fault.get('per_round', 2))}) t").fetchall()  # fmt: skip
                    for state, done in rows:
                        by_state[state] = by_state.get(state, 0) + bool(done)
                    time.sleep(self.fault.get("every_s", 0.1))
            self.result = {"fault_at_s": round(started, 2), "fault_done_s": round(time.time() - self.t0, 2),
                           "backends_terminated": sum(by_state.values()), "terminated_by_state": by_state}  # fmt: skip

    def _stuck_sql(self, pid: int) -> str:
        return ("select count(*) from trials t join trial_user_attributes a on a.trial_id = t.trial_id "
                f"and a.key = 'worker' where t.state = 'RUNNING' and a.value_json like '%\"pid\": {pid},%'")  # fmt: skip

    def _query(self, sql: str) -> int:
        return int(self.server.query(sql, self.database)[0][0])


def _recovery(reports: list, fault: dict) -> dict:
    """Seconds from the fault until reports flow again at half their rate before it (1-second bins)."""
    if not reports or "fault_at_s" not in fault:
        return {}
    ends = np.array([t for t, _ in reports])
    at = fault["fault_at_s"]
    before = ends[(ends > at - 10) & (ends <= at)]
    rate = len(before) / 10.0
    for second in range(int(at), int(ends.max()) + 1):
        if ((ends > second) & (ends <= second + 1)).sum() >= rate / 2 and second + 1 > fault.get("fault_done_s", at):
            return {"reports_per_s_before": rate, "recovered_after_s": round(second + 1 - at, 1)}
    return {"reports_per_s_before": rate, "recovered_after_s": None}


def sweep(args) -> dict:
    sizes = [int(s) for s in args.workers.split(",")]
    server = postgres_server(3 * max(sizes) + 50)  # a pool of 2 + 1 overflow per worker, as the README sizes it
    runs = []
    try:
        for via in args.via.split(","):
            for workers in sizes:
                log.info("%s: %d workers", via, workers)
                run = load_run(server, workers, via, args.epoch_seconds, args.budget, args.per_process)
                log.info("%s", json.dumps({k: run[k] for k in ("wall_s", "trials_per_s", "peak_connections",
                                                                 "errors", "whole", "cpu_s")}))  # fmt: skip
                runs.append(run)
    finally:
        server.stop()
    return {"bench": "scale-sweep", "machine": machine(), "runs": runs}


def faults(args) -> dict:
    server = postgres_server(3 * args.fault_workers + 50)
    runs = []
    at = args.fault_at
    plans = [{"kind": "restart", "at_s": at}, {"kind": "kill", "at_s": at},
             {"kind": "terminate", "at_s": at, "seconds": 20, "per_round": 2, "every_s": 0.1}]  # fmt: skip
    try:
        for plan in plans:
            if args.only and plan["kind"] not in args.only.split(","):
                continue
            log.info("fault %s at %d workers", plan["kind"], args.fault_workers)
            per_process = max(1, args.fault_workers // 10)  # killing one process kills 10 % of the workers
            run = load_run(server, args.fault_workers, "direct", args.epoch_seconds,
                           args.budget or 5 * args.fault_workers, per_process, fault=plan, heartbeat=2)  # fmt: skip
            log.info("%s", json.dumps({k: run[k] for k in ("wall_s", "integrity", "whole", "fault")}))
            runs.append(run)
            emit({"bench": "scale-faults", "machine": machine(), "runs": runs, "partial": True},
                 WORK / "scale-faults-partial.json")  # fmt: skip
    finally:
        server.stop()
    return {"bench": "scale-faults", "machine": machine(), "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("sweep", "faults", "study-size"))
    parser.add_argument("--workers", default="10,50,100,200,500")
    parser.add_argument("--via", default="direct,proxy")
    parser.add_argument(
        "--epoch-seconds",
        type=float,
        default=5.0,
        help="seconds a simulated epoch takes (5: a GPU epoch, see the README)",
    )
    parser.add_argument(
        "--budget", type=int, default=None, help="finished trials per run (default: one per worker, at least 20)"
    )
    parser.add_argument("--per-process", type=int, default=50, help="simulated workers per load-generator process")
    parser.add_argument("--fault-workers", type=int, default=100)
    parser.add_argument("--only", default="", help="faults: only these kinds (restart,kill,terminate)")
    parser.add_argument("--fault-at", type=float, default=60.0, help="faults: seconds into the run")
    parser.add_argument("--sizes", default="100,1000,5000", help="study-size: finished trials in the study")
    parser.add_argument("--running", type=int, default=100, help="study-size: RUNNING trials in the study")
    parser.add_argument("--oof-visits", type=int, default=0,
                        help="study-size: complete trials keep out-of-fold predictions for this many visits")  # fmt: skip
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped by its PID: the server is still stopped
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.what == "study-size":
        from _scale_size import study_size

        result = study_size(args)
    else:
        result = sweep(args) if args.what == "sweep" else faults(args)
    emit(result, args.out or RESULTS / f"scale-{args.what}.json")


if __name__ == "__main__":
    main()
