"""Study commands of the CLI: ``launch``, ``worker`` and ``status``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from search.cli._console import console, route_optuna_logs, setup_logging
from search.cli._options import (
    ArtifactsOption,
    CacheOption,
    ConfigOption,
    EnqueueOption,
    FoldsOption,
    GpusOption,
    LogDirOption,
    NewDataOption,
    NoPretrainCacheOption,
    NoRulesOption,
    OversubscribeOption,
    PresetOption,
    PrunerOption,
    SamplerOption,
    SeedOption,
    SetOption,
    SpaceOption,
    StorageOption,
    StudyOption,
    TrialsOption,
    WorkersOption,
    WorkersPerGpuOption,
)  # fmt: skip


def launch(
    study: StudyOption,
    data: NewDataOption = None,
    workers: WorkersOption = 1,
    trials: TrialsOption = None,
    folds: FoldsOption = None,
    preset: PresetOption = None,
    config: ConfigOption = None,
    set_: SetOption = None,
    space: SpaceOption = None,
    enqueue: EnqueueOption = None,
    pruner: PrunerOption = None,
    sampler: SamplerOption = None,
    no_rules: NoRulesOption = False,
    gpus: GpusOption = None,
    workers_per_gpu: WorkersPerGpuOption = 1,
    oversubscribe: OversubscribeOption = False,
    storage: StorageOption = None,
    seed: SeedOption = None,
    cache_dir: CacheOption = None,
    log_dir: LogDirOption = None,
    artifacts: ArtifactsOption = None,
    no_pretrain_cache: NoPretrainCacheOption = False,
) -> None:
    """Create or resume a study and run WORKERS local workers until its trial budget is met.

    Everything is checked before anything is written; resuming with other settings is refused.
    """
    setup_logging()
    from search.pruners import DegeneracyRules
    from search.study import StudyRequest
    from search.visualization import artifact_dir_to_keep
    from search.workers import WorkerRequest, prepare_launch
    from storage import redact, resolve_url

    route_optuna_logs()
    url = resolve_url(storage)
    request = StudyRequest(
        name=study, data=data, trials=trials, folds=folds, seed=seed, preset=preset, config=config,
        sets=list(set_ or []), space=space, enqueue=list(enqueue or []), pruner=pruner, sampler=sampler,
        rules=DegeneracyRules(enabled=False) if no_rules else None, artifacts=artifact_dir_to_keep(url, artifacts),
        cache_dir=cache_dir,
    )  # fmt: skip
    plan = prepare_launch(request, WorkerRequest(workers, gpus, workers_per_gpu, oversubscribe), url)
    console.print(plan.message)
    if plan.workers == 0:
        console.print(f"join it from any machine: dfu-search worker --study {study} --storage '{redact(url)}'")
        return
    for note in plan.notes:
        console.print(note, markup=False, highlight=False)
    raise typer.Exit(_supervise(plan, url, workers_per_gpu, cache_dir, log_dir, artifacts, not no_pretrain_cache))


def _supervise(
    plan, url: str, workers_per_gpu: int, cache_dir: Path | None, log_dir: Path | None, artifacts, reuse: bool
) -> int:
    """Run the plan's local workers until the budget is met, then print the study's summary; the exit code."""
    from search.cli._status import print_status
    from search.visualization import resolve_artifact_dir
    from search.workers import Launcher, plan_workers
    from storage import StorageError, redact

    name = plan.study.study_name
    logs = log_dir or resolve_artifact_dir(url, artifacts, plan.settings.artifacts) / name / "logs"
    slots = plan_workers(plan.workers, plan.gpus, logs, workers_per_gpu)
    started = time.perf_counter()
    code = Launcher(plan.study, plan.settings, url, slots, console, cache_dir, reuse_pretraining=reuse).run()
    try:
        print_status(plan.study, console)
    except StorageError as exc:
        console.print(f"(no summary: {exc})", markup=False)
    console.print(f"{time.perf_counter() - started:.0f} s (worker logs in {logs}). "
                  f"Browse it: dfu-search dashboard --storage '{redact(url)}'")  # fmt: skip
    return code


def worker(
    study: StudyOption,
    storage: StorageOption = None,
    gpu: Annotated[str | None, typer.Option(help="GPU id this worker uses (sets CUDA_VISIBLE_DEVICES).")] = None,
    data: Annotated[Path | None, typer.Option(help="The study's data at this host's path, if it differs.")] = None,
    index: Annotated[
        int | None,
        typer.Option(min=0, help="Worker number (0 or more): fixes the sampler seed [default: from host and pid]."),
    ] = None,
    cache_dir: CacheOption = None,
    artifacts: ArtifactsOption = None,
    no_pretrain_cache: NoPretrainCacheOption = False,
) -> None:
    """Join a study from any machine and run trials until its budget is met."""
    setup_logging(timestamps=True)
    from search.workers import EXIT_FAILURES, EXIT_STOPPED, WorkerGaveUp, WorkerStopping, run_worker
    from storage import resolve_url

    route_optuna_logs()
    try:
        ran = run_worker(
            study, resolve_url(storage), gpu=gpu, data=data, cache_dir=cache_dir, index=index, artifacts=artifacts,
            reuse_pretraining=not no_pretrain_cache,
        )  # fmt: skip
    except WorkerGaveUp as exc:
        from search.cli._console import report_error

        report_error(str(exc))
        raise typer.Exit(EXIT_FAILURES) from None
    except WorkerStopping as exc:
        console.print(f"worker stopped ({exc}); its trial is queued again")
        raise typer.Exit(EXIT_STOPPED) from None
    console.print(f"worker done: ran {ran} trials; the study's budget is met")


def status(study: StudyOption, storage: StorageOption = None) -> None:
    """Trial states, the best trial, prune reasons and trials per worker."""
    from search.cli._status import print_status
    from search.study import load_study
    from storage import open_storage, resolve_url

    print_status(load_study(study, open_storage(resolve_url(storage), heartbeat=None, create=False)), console)


def proxy(
    storage: StorageOption = None,
    host: Annotated[
        str, typer.Option(help="Address to listen on (a private network: the proxy has no authentication).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 13000,
) -> None:
    """Serve Optuna's gRPC storage proxy in front of the database; workers use --storage grpc://HOST:PORT."""
    setup_logging()
    from search.cli._console import check_port_free, warn_if_exposed
    from storage import redact, resolve_url, serve_proxy

    url = resolve_url(storage)
    check_port_free(host, port)
    warn_if_exposed(host, port, "storage proxy")
    console.print(f"proxy for {redact(url)} on grpc://{host}:{port} (no heartbeats through the proxy)")
    console.file.flush()  # announce readiness before serving blocks, also when stdout is a file
    serve_proxy(url, host, port)


def register(app: typer.Typer) -> None:
    app.command()(launch)
    app.command()(worker)
    app.command()(status)
    app.command()(proxy)
