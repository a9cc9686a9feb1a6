"""The launcher's parts without starting workers: devices, the worker cap, the live display, read-only opens."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from rich.console import Console

from search.workers import plan_workers
from search.workers._devices import capacity, detect_gpus, parse_gpus, usable_cores
from trainer.errors import ConfigError


def test_gpu_ids_are_indices_or_uuids() -> None:
    assert parse_gpus("0,1") == ["0", "1"]
    uuid = "MIG-4b2f6c8e-3a1d-5e7f-9a0b-1c2d3e4f5a6b"
    assert parse_gpus(f"GPU-8c1f0a2b-1111-2222-3333-444455556666,{uuid}")[1] == uuid
    for bad in ("abc", "0,,1", "-1", "0,0"):
        with pytest.raises(ConfigError, match="--gpus"):
            parse_gpus(bad)


def test_an_inherited_cuda_visible_devices_wins_over_nvidia_smi(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = tmp_path / "nvidia-smi"  # lists four GPUs
    fake.write_text("#!/bin/sh\nprintf '0\\n1\\n2\\n3\\n'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert detect_gpus() == ["0", "1", "2", "3"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")  # what SLURM or a container gave this process
    assert detect_gpus() == ["2", "3"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert detect_gpus() == []


def test_workers_are_planned_per_gpu_or_per_core(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "MIG-4b2f6c8e-3a1d,MIG-77aa0b1c-9e8f")  # two MIG slices given us
    slots = plan_workers(4, detect_gpus(), tmp_path, workers_per_gpu=2)
    assert [s.gpu for s in slots] == ["MIG-4b2f6c8e-3a1d"] * 2 + ["MIG-77aa0b1c-9e8f"] * 2
    assert all(not s.cores for s in slots)
    env = slots[2].environment({"PATH": "/bin", "XLA_PYTHON_CLIENT_MEM_FRACTION": "0.3"})
    assert env["CUDA_VISIBLE_DEVICES"] == "MIG-77aa0b1c-9e8f" and env["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
    assert env["XLA_PYTHON_CLIENT_MEM_FRACTION"] == "0.3"  # the user's memory setting wins
    assert slots[0].environment({})["XLA_PYTHON_CLIENT_MEM_FRACTION"] == "0.45"  # JAX: half the GPU each
    alone = plan_workers(1, ["3"], tmp_path)[0].environment({})
    assert alone["CUDA_VISIBLE_DEVICES"] == "3" and "XLA_PYTHON_CLIENT_MEM_FRACTION" not in alone
    assert capacity(["0", "1"], 2)[0] == 4
    cores = usable_cores()
    cpu = plan_workers(len(cores), [], tmp_path)
    assert sorted(c for s in cpu for c in s.cores) == cores  # each core to one worker
    assert cpu[0].environment({"CUDA_VISIBLE_DEVICES": "0"})["CUDA_VISIBLE_DEVICES"] == ""  # a CPU worker sees no GPU
    assert capacity([], 1)[0] == len(cores)


def test_more_workers_than_the_machine_holds_are_cut_to_its_size(caplog: pytest.LogCaptureFixture) -> None:
    from search.workers import WorkerRequest
    from search.workers._launch import check_workers

    gpus, count = check_workers(WorkerRequest(count=1000, gpus=None))
    most = len(gpus) or len(usable_cores())
    assert count == most and "--oversubscribe" in caplog.text
    assert check_workers(WorkerRequest(count=1000, oversubscribe=True))[1] == 1000
    with pytest.raises(ConfigError, match="--workers must be 0 or more"):
        check_workers(WorkerRequest(count=-1))


def test_the_live_display_shows_where_each_running_trial_is() -> None:
    from search.workers._live import render
    from search.workers._supervise import WorkerProcess
    from trainer.config import StepLayout

    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    trial.set_user_attr("worker", {"host": "h", "pid": 4242, "gpu": "cpu"})
    layout = StepLayout((3, 4, 2))  # pretrain 3, stage1 4, stage2 2 epochs: 9 steps a fold
    for step in range(9 + 3 + 2):  # up to step 13: fold 1, stage1, epoch 2
        trial.report(0.25, step)

    class _Process:
        pid = 4242

    worker = WorkerProcess(slot=plan_workers(1, [], Path("."))[0], process=_Process(), state="running")
    console = Console(record=True, width=100)
    console.print(render(study, 10, "postgresql://u:secret@h/db", layout, [worker]))
    text = console.export_text()
    assert "f1 stage1 e2" in text and "0.250" in text and "secret" not in text and "finished 0/10" in text


def test_read_only_opens_never_create_a_storage_file(tmp_path: Path) -> None:
    from search.query import open_study
    from storage import StorageError

    for url in (f"sqlite:///{tmp_path / 'none.db'}", f"journal:///{tmp_path / 'none.log'}"):
        with pytest.raises(StorageError, match=f"no study storage at {tmp_path}"):
            open_study("x", url)
    assert not list(tmp_path.iterdir())
