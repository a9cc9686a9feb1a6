"""Study commands of the CLI: ``launch``, ``worker`` and ``status``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from search._console import console, route_optuna_logs, setup_logging

StorageOption = Annotated[
    str | None,
    typer.Option(
        "--storage",
        help="Study storage URL: sqlite:///FILE, postgresql://USER:PASS@HOST/DB or journal:///FILE "
        "[default: $DFU_SEARCH_STORAGE, else sqlite:///dfu-search.db].",
    ),
]
StudyOption = Annotated[str, typer.Option("--study", help="Study name.")]
CacheOption = Annotated[Path | None, typer.Option("--cache-dir", help="Preprocessing cache shared by all workers.")]
ArtifactsOption = Annotated[
    Path | None,
    typer.Option(
        "--artifacts",
        help="Folder for trial diagnostics (learning curves, confusion matrices, result.json) "
        "[default: $DFU_SEARCH_ARTIFACTS, else the study's, else beside the SQLite/journal file, "
        "else ./dfu-search-artifacts]. Shared storage needs a folder every worker can reach.",
    ),
]


def launch(
    study: StudyOption,
    data: Annotated[Path | None, typer.Option("--data", help="Data (CSV or folder); needed to create a study.")] = None,
    workers: Annotated[int, typer.Option(help="Local worker processes (0: only create/resume the study).")] = 1,
    trials: Annotated[int, typer.Option(help="Finished (complete + pruned) trials to add to the study's budget.")] = 20,
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
        str,
        typer.Option(
            help="Pruning strategy: ours (rules + same-step comparison + fold racing), median, hyperband, "
            "wilcoxon (per fold), forgiving (fold racing only) or none."
        ),
    ] = "ours",
    sampler: Annotated[
        str, typer.Option(help="Sampler: tpe, or random (an unbiased sample of the space, e.g. for replay).")
    ] = "tpe",
    no_rules: Annotated[
        bool, typer.Option("--no-rules", help="Turn off the degeneracy rules (for comparisons).")
    ] = False,
    gpus: Annotated[
        str | None, typer.Option(help="Comma-separated GPU ids [default: all found by nvidia-smi].")
    ] = None,
    storage: StorageOption = None,
    seed: Annotated[int, typer.Option(help="Seed of folds and networks; worker i samples with seed·1000 + i.")] = 0,
    cache_dir: CacheOption = None,
    log_dir: Annotated[Path | None, typer.Option(help="Worker logs [default: dfu-search-logs/STUDY].")] = None,
    artifacts: ArtifactsOption = None,
) -> None:
    """Create or resume a study and run WORKERS local workers until its trial budget is met."""
    setup_logging()
    from search.artifacts import artifact_dir_to_keep
    from search.launch import Launcher, detect_gpus, plan_workers
    from search.pruning import DegeneracyRules
    from search.study import StudyRequest, create_or_resume
    from storage import open_storage, redact, resolve_url

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
        rules=DegeneracyRules(enabled=not no_rules),
    )
    study_obj, settings = create_or_resume(request, open_storage(url))
    console.print(f"study {study!r} on {redact(url)}: budget {settings.trials} finished trials")
    if workers <= 0:
        console.print(f"join it from any machine: dfu-search worker --study {study} --storage '{redact(url)}'")
        return
    gpu_list = [g.strip() for g in gpus.split(",") if g.strip()] if gpus else detect_gpus()
    plan = plan_workers(workers, gpu_list, log_dir or Path("dfu-search-logs") / study)
    started = time.perf_counter()
    code = Launcher(study_obj, settings, url, plan, console, cache_dir).run()
    from search.status import print_status
    from storage import StorageError

    try:
        print_status(study_obj, console)
    except StorageError as exc:
        console.print(f"(no summary: {exc})", markup=False)
    console.print(f"{time.perf_counter() - started:.0f} s. Browse it: dfu-search dashboard --storage '{redact(url)}'")
    raise typer.Exit(code)


def worker(
    study: StudyOption,
    storage: StorageOption = None,
    gpu: Annotated[str | None, typer.Option(help="GPU id this worker uses (sets CUDA_VISIBLE_DEVICES).")] = None,
    data: Annotated[Path | None, typer.Option(help="The study's data at this host's path, if it differs.")] = None,
    index: Annotated[
        int | None, typer.Option(help="Worker number: fixes the sampler seed [default: from host and pid].")
    ] = None,
    cache_dir: CacheOption = None,
    artifacts: ArtifactsOption = None,
) -> None:
    """Join a study from any machine and run trials until its budget is met."""
    setup_logging()
    from search.worker import EXIT_FAILURES, WorkerGaveUp, run_worker
    from storage import resolve_url

    route_optuna_logs()
    try:
        ran = run_worker(
            study, resolve_url(storage), gpu=gpu, data=data, cache_dir=cache_dir, index=index, artifacts=artifacts
        )
    except WorkerGaveUp as exc:
        from search._console import report_error

        report_error(str(exc))
        raise typer.Exit(EXIT_FAILURES) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    console.print(f"worker done: ran {ran} trials; the study's budget is met")


def status(study: StudyOption, storage: StorageOption = None) -> None:
    """Trial states, the best trial, prune reasons and trials per worker."""
    from search.settings import load_study
    from search.status import print_status
    from storage import open_storage, resolve_url

    print_status(load_study(study, open_storage(resolve_url(storage), heartbeat=None)), console)


def proxy(
    storage: StorageOption = None,
    host: Annotated[
        str, typer.Option(help="Address to listen on (a private network: the proxy has no authentication).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 13000,
) -> None:
    """Serve Optuna's gRPC storage proxy in front of the database; workers use --storage grpc://HOST:PORT."""
    setup_logging()
    from storage import redact, resolve_url
    from storage.open import serve_proxy

    url = resolve_url(storage)
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
