"""Running ``dfu-search`` as a user would: a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CLI = [sys.executable, "-m", "search"]
#: Small enough for a trial in a few seconds on 2 cores, big enough to run all three stages.
TINY = ["--set", "image_size=16", "--set", "epochs_pretrain=3", "--set", "epochs_stage1=2", "--set", "epochs_stage2=2",
        "--set", "rf_trees=30", "--set", "patience_pretrain=3", "--set", "patience_stage1=2", "--set", "patience_stage2=2"]


def run_cli(*args, cwd: Path | None = None, timeout: int = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env={**os.environ, **(env or {})})


def start_cli(*args, cwd: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen([*CLI, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=cwd)
