"""The ``dfu-search`` command line.

Start-up stays light: TensorFlow, Keras and Optuna load inside the commands that need them, so
``dfu-search --help`` answers at once.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from search.cli._console import console, report_error
from storage import StorageError
from trainer import UserError

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


from search.cli import _cache, _predict, _query, _replay, _study, _train  # noqa: E402  (each registers its commands)

for _commands in (_train, _predict, _cache, _study, _query, _replay):
    _commands.register(app)


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
