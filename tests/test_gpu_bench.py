"""The GPU measurement's dry run: ``bench/gpu.sh --cpu`` runs every kind of step end to end on this CPU.

A GPU machine is lent for minutes at a time, without network: a script that breaks there wastes the
loan. This runs the same script with the JAX backend at tiny sizes: a throughput case compiled in a wave
and timed behind the GPU gate (the other cases are the same code with other flags), the epoch times
(a worker's second trial compiles nothing), and the live two-worker study.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # ~4 min of JAX compiles on 2 cores: `make test-all`, and before every device run (bench/README.md)
def test_gpu_dry_run_measures_every_step(tmp_path: Path) -> None:
    pytest.importorskip("jax", reason="the dry run needs JAX (make dev installs it)")
    out = tmp_path / "gpu.json"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run(
        ["bench/gpu.sh", "--cpu", "--cases", "0", "--trials", "2", "--budget", "640",
         "--out", str(out), "--work", str(tmp_path / "work")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=720,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["environment"]["backend"] == "jax"
    assert result["environment"]["backend_gpus"] == []
    assert result["settings"]["KERAS_BACKEND"] == "jax"
    cases = {(c["spec"], c["jit_compile"]): c for c in result["cases"]}
    assert set(cases) == {("small@32", "auto")}
    for case in cases.values():
        assert "error" not in case, case
        assert case["bare_images_s"] > 0 and case["trainer_images_s"] > 0
        assert case["epoch_pairs"] == case["epochs"] - 1  # the compiling epoch is not timed
        assert -1 < case["overhead"] < 1
    assert "compiled in" in done.stdout  # the wave waited for both cases before timing them
    study = result["study"]
    assert study["launch_exit"] == 0
    assert sum(study["trial_states"].values()) >= 2 and study["trial_states"]["FAIL"] == 0
    assert len(study["worker_pids"]) == 2  # both workers ran trials
    assert study["worker_devices"] == ["cpu"]
    assert len(study["trial_seconds"]) == sum(study["trial_states"].values())
    assert result["skipped"] == []
    epochs = result["epochs"]
    assert set(epochs["stages"]) == {"pretrain", "stage1", "stage2"}
    # The worker's second trial compiles nothing: each stage's first epoch takes what a steady one takes. (Within
    # the first trial JAX compiles again for a fold whose row counts, and so batch shapes, differ.)
    for name, stage in epochs["second_trial_stages"].items():
        assert stage["fold0_first_epoch_s"] < epochs["stages"][name]["fold0_first_epoch_s"] / 5, (name, epochs)
    assert epochs["trials"][1]["wall_s"] < epochs["trials"][0]["wall_s"] / 3
