"""Study commands of the CLI: ``launch``, ``worker`` and ``status``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from search.cli._console import console, route_optuna_logs, setup_logging
from search.cli._options import ArtifactsOption, CacheOption, StorageOption, StudyOption


def launch(
    study: StudyOption,
    data: Annotated[Path | None, typer.Option("--data", help="Data (CSV or folder); needed to create a study.")] = None,
    workers: Annotated[
        int,
        typer.Option(
            help="Local worker processes (0: only create/resume the study). At most one per GPU "
            "(times --workers-per-gpu) or one per CPU core, unless --oversubscribe."
        ),
    ] = 1,
    trials: Annotated[
        int | None,
        typer.Option(
            help="New study: its budget of finished (complete + pruned) trials [default: 20]. Existing study: "
            "run this many more from now (budget = finished + TRIALS) [default: keep its budget]."
        ),
    ] = None,
    folds: Annotated[int | None, typer.Option(help="Patient-grouped folds per trial [default: the config's].")] = None,
    preset: Annotated[
        str | None, typer.Option(help="Base trainer preset (default, quick, degenerate) or TOML file.")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", help="Base trainer config TOML, after the preset.")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a base setting: key=value (repeatable).")
    ] = None,
    space: Annotated[Path | None, typer.Option(help="TOML file that fixes, narrows or adds searched knobs.")] = None,
    enqueue: Annotated[
        list[str] | None, typer.Option(help="Preset or TOML file to run as a trial, once per study (repeatable).")
    ] = None,
    pruner: Annotated[
        str | None,
        typer.Option(
            help="Pruning strategy: ours (rules + same-step comparison + fold racing), median, hyperband, "
            "wilcoxon (per fold), forgiving (fold racing only) or none [default: ours]."
        ),
    ] = None,
    sampler: Annotated[
        str | None,
        typer.Option(help="Sampler: tpe, or random (an unbiased sample of the space, e.g. for replay) [default: tpe]."),
    ] = None,
    no_rules: Annotated[
        bool, typer.Option("--no-rules", help="Turn off the degeneracy rules (for comparisons).")
    ] = False,
    gpus: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated GPU indices or GPU-/MIG- UUIDs [default: $CUDA_VISIBLE_DEVICES if set, else "
            "every GPU nvidia-smi lists]."
        ),
    ] = None,
    workers_per_gpu: Annotated[int, typer.Option(help="Workers sharing each GPU.")] = 1,
    oversubscribe: Annotated[
        bool, typer.Option("--oversubscribe", help="Start more workers than GPUs or CPU cores.")
    ] = False,
    storage: StorageOption = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of folds and networks; worker i samples with seed·1000 + i [default: 0].")
    ] = None,
    cache_dir: CacheOption = None,
    log_dir: Annotated[
        Path | None, typer.Option(help="Worker logs [default: the study's artifact folder, under STUDY/logs].")
    ] = None,
    artifacts: ArtifactsOption = None,
) -> None:
    """Create or resume a study and run WORKERS local workers until its trial budget is met.

    Everything is checked before anything is written; resuming with other settings is refused.
    """
    setup_logging()
    from search.pruners.rules import DegeneracyRules
    from search.study.create import StudyRequest
    from search.visualization.artifacts import artifact_dir_to_keep, resolve_artifact_dir
    from search.workers.devices import plan_workers
    from search.workers.launch import WorkerRequest, prepare_launch
    from search.workers.supervise import Launcher
    from storage import redact, resolve_url

    route_optuna_logs()
    url = resolve_url(storage)
    request = StudyRequest(
        artifacts=artifact_dir_to_keep(url, artifacts),
        name=study,
        data=data,
        trials=trials,
        folds=folds,
        seed=seed,
        preset=preset,
        config=config,
        sets=list(set_ or []),
        space=space,
        enqueue=list(enqueue or []),
        pruner=pruner,
        sampler=sampler,
        rules=DegeneracyRules(enabled=False) if no_rules else None,
    )
    plan = prepare_launch(request, WorkerRequest(workers, gpus, workers_per_gpu, oversubscribe), url)
    console.print(plan.message)
    if plan.workers == 0:
        console.print(f"join it from any machine: dfu-search worker --study {study} --storage '{redact(url)}'")
        return
    logs = log_dir or resolve_artifact_dir(url, artifacts, plan.settings.artifacts) / study / "logs"
    slots = plan_workers(plan.workers, plan.gpus, logs, workers_per_gpu)
    started = time.perf_counter()
    code = Launcher(plan.study, plan.settings, url, slots, console, cache_dir).run()
    from search.cli.status import print_status
    from storage import StorageError

    try:
        print_status(plan.study, console)
    except StorageError as exc:
        console.print(f"(no summary: {exc})", markup=False)
    console.print(f"{time.perf_counter() - started:.0f} s (worker logs in {logs}). "
                  f"Browse it: dfu-search dashboard --storage '{redact(url)}'")  # fmt: skip
    raise typer.Exit(code)


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
) -> None:
    """Join a study from any machine and run trials until its budget is met."""
    setup_logging(timestamps=True)
    from search.workers.stopping import EXIT_STOPPED, WorkerStopping
    from search.workers.worker import EXIT_FAILURES, WorkerGaveUp, run_worker
    from storage import resolve_url

    route_optuna_logs()
    try:
        ran = run_worker(
            study, resolve_url(storage), gpu=gpu, data=data, cache_dir=cache_dir, index=index, artifacts=artifacts
        )
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
    from search.cli.status import print_status
    from search.study.settings import load_study
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
    from search.cli._console import check_port_free
    from storage import redact, resolve_url
    from storage.open import serve_proxy

    url = resolve_url(storage)
    check_port_free(host, port)
    if host not in ("127.0.0.1", "localhost", "::1"):
        console.print(
            f"[yellow]warning:[/yellow] the proxy on {host}:{port} has no authentication; keep it on a private network"
        )
    console.print(f"proxy for {redact(url)} on grpc://{host}:{port} (no heartbeats through the proxy)")
    console.file.flush()  # announce readiness before serving blocks, also when stdout is a file
    serve_proxy(url, host, port)


def register(app: typer.Typer) -> None:
    app.command()(launch)
    app.command()(worker)
    app.command()(status)
    app.command()(proxy)
