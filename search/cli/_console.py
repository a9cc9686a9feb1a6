"""Console, logging and error reporting shared by the CLI commands."""

from __future__ import annotations

import logging

from rich.console import Console
from rich.logging import RichHandler

console = Console()
#: Errors are one plain line: no wrapping, no markup, no colour codes in logs.
error_console = Console(stderr=True, soft_wrap=True, highlight=False, markup=False)


def setup_logging(verbose: bool = False, timestamps: bool = False) -> None:
    """Log records through Rich to stderr; ``timestamps`` for long-running processes whose log is a file."""
    handler = RichHandler(
        console=Console(stderr=True), show_path=False, show_time=timestamps, log_time_format="%H:%M:%S"
    )
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(message)s", handlers=[handler], force=True
    )
    for noisy in ("absl", "tensorflow", "h5py", "PIL", "matplotlib", "optuna"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def route_optuna_logs() -> None:
    """Send Optuna's log records through our handler (warnings and up) instead of its own stderr handler."""
    import optuna

    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # its first use set its level to INFO


def report_error(message: str) -> None:
    error_console.print(f"error: {message}")


def warn_if_exposed(host: str, port: int, what: str, risk: str = "") -> None:
    """A warning when a server without authentication (``what``; ``risk``: what a stranger could do) listens
    beyond this machine."""
    if host not in ("127.0.0.1", "localhost", "::1"):
        console.print(
            f"[yellow]warning:[/yellow] the {what} on {host}:{port} has no authentication{risk}; anyone who reaches "
            "this address can use it. Keep it on a trusted network or behind a proxy with auth."
        )


def check_port_free(host: str, port: int) -> None:
    """A one-line error now if a server could not listen on ``host:port`` (busy, or not an address here)."""
    import socket

    from trainer import ConfigError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConfigError(f"--host {host}: not an address of this machine ({exc.strerror})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise ConfigError(f"--port {port}: cannot listen on {host}:{port} ({exc.strerror})") from None
