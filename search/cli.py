"""The ``dfu-search`` command line.

Start-up stays light: TensorFlow, Keras and Optuna load inside the commands that need them, so
``dfu-search --help`` answers at once.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from search._console import console, report_error, setup_logging
from storage.errors import StorageError
from trainer.errors import UserError

app = typer.Typer(
    help="Hyperparameter search for the three-stage DFU healing-phase classifier (Optuna + Keras).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # help texts say "[default: ...]": Rich markup would eat the brackets
)


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            shown = version("dfu-search")
        except PackageNotFoundError:  # run from a checkout that was never installed
            shown = "unknown (not installed)"
        console.print(f"dfu-search {shown}", markup=False, highlight=False)
        raise typer.Exit(0)


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", is_eager=True, callback=_show_version, help="Print the version and exit.")
    ] = False,
) -> None:
    """Hyperparameter search for the three-stage DFU healing-phase classifier (Optuna + Keras)."""


DataOption = Annotated[
    Path,
    typer.Option("--data", help="A metadata CSV (metadata only) or a data folder in the DFU study's layout."),
]
CacheOption = Annotated[
    Path | None,
    typer.Option("--cache-dir", help="Preprocessing cache [default: $DFU_SEARCH_CACHE or ~/.cache/dfu-search]."),
]


@app.command()
def train(
    data: DataOption,
    modalities: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated: metadata, depth_rgb, depth_map, thermal_rgb, thermal_map "
            "[default: metadata,depth_rgb,thermal_map when the data has images]."
        ),
    ] = None,
    folds: Annotated[int | None, typer.Option(help="Patient-grouped folds [default: 5, or the config's].")] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of folds, RF and networks [default: 0, or the config's].")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder for result.json [default: runs/train-TIME].")] = None,
    preset: Annotated[str | None, typer.Option(help="Preset name (default, quick, degenerate) or TOML file.")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="TOML config file, applied after the preset.")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override one setting: key=value (repeatable).")
    ] = None,
    save_models: Annotated[
        bool,
        typer.Option(
            help="Save the final models into --out: config.toml, each fold's network (.keras) "
            "and metadata model (.joblib); reload with trainer.load_final_model."
        ),
    ] = False,
    cache_dir: CacheOption = None,
    stage_rules: Annotated[
        bool,
        typer.Option(
            help="End a degenerate stage early by the search's degeneracy rules, as a study's trial does "
            "(so that a trial's config trains to the trial's QWK)."
        ),
    ] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug messages.")] = False,
) -> None:
    """Train and cross-validate the classifier once; writes OUT/result.json."""
    setup_logging(verbose)
    from trainer import RunCallbacks, load_config
    from trainer import train as run_training
    from trainer.cache import default_cache_dir
    from trainer.config import apply

    overrides = list(set_ or [])
    settings = load_config(preset, config, overrides)
    cli_values = {"modalities": modalities, "folds": folds, "seed": seed}
    settings = apply(settings, {k: v for k, v in cli_values.items() if v is not None}, "command line")
    out = out or Path("runs") / time.strftime("train-%Y%m%d-%H%M%S")
    cache = cache_dir or default_cache_dir()

    from search._display import TrainingDisplay, results_table

    with TrainingDisplay(console, settings.folds, settings.steps_per_fold) as display:
        on_epoch = display.on_epoch
        if stage_rules:
            from search.judge import StageStopper
            from search.pruning import DegeneracyRules

            on_epoch = StageStopper(DegeneracyRules(), then=display.on_epoch)
        callbacks = RunCallbacks(on_epoch=on_epoch, on_fold=display.on_fold, on_images=display.on_images)
        summary = run_training(data, settings, cache, out=out, callbacks=callbacks, save_models=save_models)
    console.print(results_table(summary))
    console.print(
        f"mean QWK {summary['qwk']:.4f} over {settings.folds} folds in {summary['wall_seconds']:.1f} s; wrote {out / 'result.json'}"
    )


@app.command("demo-data")
def demo_data(
    out: Annotated[Path, typer.Argument(help="New folder to write (must not exist or be empty).")],
    from_metadata: Annotated[
        Path | None, typer.Option(help="Keep this metadata CSV's rows and labels; draw images for them.")
    ] = None,
    patients: Annotated[int, typer.Option(help="Synthetic patients (ignored with --from-metadata).")] = 80,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    shots: Annotated[int, typer.Option(help="Shots (image rows) per visit, 1-4.")] = 3,
    image_signal: Annotated[
        str | None,
        typer.Option(
            help="Strength of the images' class cue: one number for every modality, or "
            "MODALITY=VALUE,... for some (0 = no signal). Default: calibrated so that images alone score "
            "like the real ones (depth_rgb=0.42, depth_map=0.38, thermal_rgb=0.5, thermal_map=0.62)."
        ),
    ] = None,
    metadata_signal: Annotated[
        float,
        typer.Option(help="Strength of the phase in the synthetic clinical columns (ignored with --from-metadata)."),
    ] = 0.4,
) -> None:
    """Write a synthetic data folder in the DFU study's layout (metadata CSV, box CSVs, four image folders)."""
    setup_logging()
    from rich.progress import Progress

    from trainer.synthetic import write_demo_data

    started = time.perf_counter()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("drawing images", total=None)
        summary = write_demo_data(
            out,
            from_metadata,
            patients,
            seed,
            shots,
            image_signal=image_signal,
            metadata_signal=metadata_signal,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    counts = ", ".join(f"{k} {v}" for k, v in summary.label_counts.items())
    console.print(
        f"wrote {summary.folder}: {summary.visits} visits of {summary.patients} patients ({counts}), "
        f"{summary.shots} shots in {time.perf_counter() - started:.1f} s"
    )


from search import cli_query, cli_replay, cli_study  # noqa: E402  (commands register themselves on the app)

cli_study.register(app)
cli_query.register(app)
cli_replay.register(app)


def main() -> None:
    """Console entry point: user errors, bad options included, become one ``error:`` line and exit code 2."""
    # Typer vendors its own copy of Click; its exceptions are only reachable there.
    from typer._click import exceptions as click

    try:
        code = app(standalone_mode=False, prog_name="dfu-search")
    except click.NoArgsIsHelpError as exc:
        console.print(exc.ctx.get_help() if exc.ctx else "", markup=False, highlight=False)
        code = 0
    except click.UsageError as exc:  # unknown option, bad value, missing option
        command = exc.ctx.command_path if exc.ctx else "dfu-search"
        report_error(f"{command}: {exc.format_message()} (see {command} --help)")
        code = 2
    except (UserError, StorageError) as exc:
        report_error(str(exc))
        code = 2
    except (KeyboardInterrupt, typer.Abort):
        report_error("interrupted")
        code = 130
    sys.exit(code or 0)


__all__ = ["app", "main"]
