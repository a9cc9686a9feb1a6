"""``bench/scale.py study-size``: what a worker's reads cost as the study grows to 100, 1,000 and 5,000 trials.

The study is filled with finished trials as a real study holds them (sampled knobs, the nearest recorded
trial's curve as intermediate values and ``curve`` attribute, its folds and config; a third pruned after fold
0; past 1,000 trials, copies of those in SQL), then at each size a worker's calls are timed, cold (a worker that has just joined: Optuna's trial
cache empty) and warm (the same worker at its next trial):

- ``ask``: the study's TPE sampler (multivariate, constant liar) asks and the worker samples its knobs;
- ``budget``: the trial loop's count of finished trials;
- ``completed``: the default pruner's snapshot of the completed trials, which it takes once per fold of a trial;
- ``should_prune``: a running trial's ``should_prune`` at a fusion epoch of fold 1 (its comparison with each
  completed trial at that step).

Beside them, Optuna's own reads of the same (``optuna_*``): they read every running trial again each time, so
the study also holds ``--running`` RUNNING trials (default 100, one fold into their curves): the trials of
as many busy workers. And the before of the bulk read (``orm_*``): ``ask`` and Optuna's cold read of the finished
trials with the storage's ``_get_trials`` put back to Optuna's ORM read (what every read of many trials cost before
``storage/_trial_reads.py``), timed in the same run, after the other arm at each repeat.
"""

from __future__ import annotations

import functools
import logging
import statistics
import time

import numpy as np
import optuna
from optuna.trial import TrialState, create_trial

from search.pruners import DEFAULT_PRUNER, make_pruner
from search.replay import load_recording, nearest_recorded, simulated_settings
from search.samplers import make_sampler
from search.study import OOF_STUDY_ATTR, OOF_TRIAL_ATTR, encode_oof, encode_visits, finished_trials
from storage import open_storage

log = logging.getLogger("scale")
REPEATS = 5
#: Past this many finished trials the study grows by copying its own finished trials in SQL: ``add_trials``
#: inserts ~5 trials/s here, so 5,000 would take a quarter of an hour. A copy has its original's knobs, curve
#: and attributes: TPE sees repeated points, but what is timed is reading and modelling that many trials.
SAMPLED_UP_TO = 1000
_CHILD_TABLES = {  # table: the columns a copy keeps (its own id is new, its trial_id is the copy's)
    "trial_params": "param_name, param_value, distribution_json",
    "trial_values": "objective, value, value_type",
    "trial_intermediate_values": "step, intermediate_value, intermediate_value_type",
    "trial_user_attributes": "key, value_json",
    "trial_system_attributes": "key, value_json",
}


def study_size(args) -> dict:
    from _common import CURVES, machine, postgres_server

    sizes = sorted(int(s) for s in args.sizes.split(","))
    recording = load_recording(CURVES)
    server = postgres_server(100)
    try:
        url = server.create_database()
        storage = open_storage(url, None)
        study = optuna.create_study(study_name="size", storage=storage, direction="maximize")
        settings = simulated_settings(recording, 10**6, DEFAULT_PRUNER)
        settings.save(study)
        rng = np.random.default_rng(0)
        if args.oof_visits:  # as a study whose complete trials keep out-of-fold predictions (search.study._oof)
            labels, patients = np.arange(args.oof_visits) % 3, np.arange(args.oof_visits) // 3
            study.set_user_attr(OOF_STUDY_ATTR, encode_visits(labels, patients))
        _running(study, settings, recording, args.running)
        rows, have = [], 0
        for size in sizes:
            started = time.perf_counter()
            sampled = min(size - have, max(0, SAMPLED_UP_TO - have))
            _fill(study, settings, recording, sampled, rng, args.oof_visits)
            copied = size - have - sampled
            while copied > 0:
                copied -= _copy_finished(storage, study._study_id, copied)
            have = size
            log.info("study holds %d finished trials (filled in %.0f s)", size, time.perf_counter() - started)
            rows.append({"trials": size, **_measure(url, settings)})
            log.info("%s", rows[-1])
    finally:
        server.stop()
    return {
        "bench": "scale-study-size",
        "machine": machine(),
        "repeats": REPEATS,
        "running": args.running,
        "oof_visits": args.oof_visits,
        "rows": rows,
    }


def _fill(study: optuna.Study, settings, recording, count: int, rng: np.random.Generator, oof_visits: int = 0) -> None:
    """Add ``count`` finished trials shaped as a study's: sampled knobs, a recorded curve, its attributes (and, with
    ``oof_visits``, a complete trial's out-of-fold predictions for that many visits)."""
    sampler_study = optuna.create_study(sampler=optuna.samplers.RandomSampler(int(rng.integers(1 << 30))))
    oof_rng = np.random.default_rng(count)  # its own stream: both arms draw the same trials from ``rng``
    space, base = settings.search_space, settings.config
    batch = []
    for _ in range(count):
        asked = sampler_study.ask()
        params = space.sample(asked, skip=set())
        recorded = nearest_recorded(recording, params)
        pruned = rng.random() < 1 / 3
        curve = [row for row in recorded.curve if row[1] == 0] if pruned else recorded.curve
        batch.append(create_trial(
            state=TrialState.PRUNED if pruned else TrialState.COMPLETE,
            value=None if pruned else recorded.value,
            params=asked.params, distributions=asked.distributions,
            intermediate_values={row[0]: row[4] for row in curve if row[4] is not None},
            user_attrs={"curve": curve, "folds": [{"qwk": q} for q in recorded.fold_qwks[: 1 if pruned else None]],
                        "config": base.as_dict(), "epochs_trained": len(curve),
                        "worker": {"host": "sim", "pid": 0, "gpu": "cpu"}},
        ))  # fmt: skip
        if oof_visits and not pruned:
            batch[-1].user_attrs[OOF_TRIAL_ATTR] = _random_oof(oof_visits, oof_rng)
        sampler_study.tell(asked, 0.0)
        if len(batch) == 200:
            study.add_trials(batch)
            batch = []
    if batch:
        study.add_trials(batch)


def _random_oof(visits: int, rng: np.random.Generator) -> dict:
    """Out-of-fold predictions of the stored size: three folds of random probabilities."""
    probabilities = rng.dirichlet(np.ones(3), visits)
    return encode_oof(visits, [(f, np.arange(f, visits, 3), probabilities[f::3]) for f in range(3)])


def _copy_finished(storage, study_id: int, count: int) -> int:
    """Copy up to ``count`` of the study's finished trials, rows and all, in one transaction; returns how many."""
    from sqlalchemy import text

    with storage.engine.begin() as connection:
        connection.execute(text(
            "create temp table copied on commit drop as select trial_id as old, row_number() over (order by trial_id) "
            "as rn from trials where study_id = :study and state in ('COMPLETE', 'PRUNED') order by trial_id limit :n"
        ), {"study": study_id, "n": count})  # fmt: skip
        top_id, top_number = connection.execute(
            text("select (select max(trial_id) from trials), max(number) from trials where study_id = :study"),
            {"study": study_id},
        ).one()
        shift = {"id": top_id, "number": top_number}
        added = connection.execute(text(
            "insert into trials (trial_id, number, study_id, state, datetime_start, datetime_complete) "
            "select :id + c.rn, :number + c.rn, t.study_id, t.state, t.datetime_start, t.datetime_complete "
            "from trials t join copied c on t.trial_id = c.old"
        ), shift).rowcount  # fmt: skip
        for table, columns in _CHILD_TABLES.items():
            connection.execute(text(
                f"insert into {table} (trial_id, {columns}) select :id + c.rn, {columns} "
                f"from {table} r join copied c on r.trial_id = c.old"
            ), shift)  # fmt: skip
        connection.execute(
            text("select setval(pg_get_serial_sequence('trials', 'trial_id'), max(trial_id)) from trials")
        )
    return added


def _timed(function, *args) -> tuple[float, object]:
    started = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - started, result


def _measure(url: str, settings) -> dict:
    """Cold and warm timings (ms, median and max of REPEATS) of a worker's reads at this study size: Optuna's
    reads (``optuna_*``: the budget counted by reading trials, the completed trials read through Optuna's cache)
    beside the ones the worker makes now (a ``count(*)``, the completed trials read incrementally)."""
    from search.pruners import CompletedTrials

    samples: dict[str, list[float]] = {}
    step = settings.config.layout.step(1, "stage1", 2)  # a fusion epoch of fold 1: the default pruner judges it
    finished_states = (TrialState.COMPLETE, TrialState.PRUNED)

    def timed(name: str, function, *args):
        elapsed, result = _timed(function, *args)
        samples.setdefault(name, []).append(elapsed)
        return result

    for repeat in range(REPEATS):
        storage = open_storage(url, None)
        plain = optuna.load_study(study_name="size", storage=storage)  # a fresh worker, Optuna's reads
        for phase in ("cold", "warm"):
            timed(f"optuna_budget_{phase}", _read, plain, finished_states)
        timed("optuna_completed_warm", _read, plain, (TrialState.COMPLETE,))
        sampler = make_sampler("tpe", repeat, settings.trials)
        study = optuna.load_study(study_name="size", storage=storage, sampler=sampler,
                                  pruner=make_pruner(DEFAULT_PRUNER, settings.config))  # fmt: skip
        completed = CompletedTrials()
        for phase in ("cold", "warm"):
            timed(f"budget_{phase}", finished_trials, study)
            timed(f"completed_{phase}", completed.get, study, (repeat, phase))
            trial = timed(f"ask_{phase}", _ask, study, settings.search_space)
            for s in range(step + 1):
                trial.report(0.3, s)
            timed(f"should_prune_{phase}", trial.should_prune)
            study.tell(trial, state=TrialState.FAIL)
        storage.engine.dispose()
        _measure_orm(url, settings, repeat, timed)
    return {name: {"median_ms": round(statistics.median(v) * 1000, 1), "max_ms": round(max(v) * 1000, 1)}
            for name, v in samples.items()}  # fmt: skip


def _measure_orm(url: str, settings, repeat: int, timed) -> None:
    """The same worker's ``ask`` and Optuna's cold read, with Optuna's ORM read of many trials: the before."""
    storage = open_storage(url, None)
    storage._get_trials = functools.partial(optuna.storages.RDBStorage._get_trials, storage)
    plain = optuna.load_study(study_name="size", storage=storage)
    timed("orm_optuna_budget_cold", _read, plain, (TrialState.COMPLETE, TrialState.PRUNED))
    study = optuna.load_study(study_name="size", storage=storage, sampler=make_sampler("tpe", repeat, settings.trials))
    for phase in ("cold", "warm"):
        study.tell(timed(f"orm_ask_{phase}", _ask, study, settings.search_space), state=TrialState.FAIL)
    storage.engine.dispose()


def _running(study: optuna.Study, settings, recording, count: int) -> None:
    """``count`` RUNNING trials, each a fold into its curve: what ``count`` busy workers keep in the study."""
    rng = np.random.default_rng(1)
    _fill(study, settings, recording, 0, rng)
    for recorded in rng.choice(recording.trials, count):
        curve = [row for row in recorded.curve if row[1] == 0]
        trial = study.ask()
        for row in curve:
            if row[4] is not None:
                trial.report(row[4], row[0])
        trial.set_user_attr("worker", {"host": "sim", "pid": 0, "gpu": "cpu"})
        trial.set_user_attr("folds", [{"qwk": recorded.fold_qwks[0]}])


def _read(study: optuna.Study, states: tuple) -> int:
    return len(study.get_trials(deepcopy=False, states=states))


def _ask(study: optuna.Study, space) -> optuna.Trial:
    trial = study.ask()
    space.sample(trial, skip=set())  # multivariate TPE samples the knobs here, as in a worker's config_for
    return trial
