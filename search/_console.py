"""Console, logging and error reporting shared by the CLI commands."""

from __future__ import annotations

import logging

from rich.console import Console
from rich.logging import RichHandler

console = Console()
#: Errors are one plain line: no wrapping, no markup, no colour codes in logs.
error_console = Console(stderr=True, soft_wrap=True, highlight=False, markup=False)


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=Console(stderr=True), show_path=False, show_time=False)],
        force=True,
    )
    for noisy in ("absl", "tensorflow", "h5py", "PIL", "matplotlib", "optuna"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def route_optuna_logs() -> None:
    """Send Optuna's log records through our handler (warnings and up) instead of its own stderr handler."""
    import optuna

    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()


def report_error(message: str) -> None:
    error_console.print(f"error: {message}")
