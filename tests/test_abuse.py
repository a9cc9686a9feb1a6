"""Every command at its edges, as a careless or hostile user would call it.

Each case must give exit code 2, exactly one ``error:`` line naming the file or setting, no traceback,
no new file or folder anywhere we can see, and leave the existing study's database byte-for-byte as
it was. The cases run in this process through the console entry point (``search.cli.main``, exactly
what the ``dfu-search`` script calls): a fresh process per case would cost ~2 s of imports each; one
case also runs as a real process, to show the two agree.
"""

from __future__ import annotations

import hashlib
import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from _cli import TINY, run_cli


@dataclass(frozen=True)
class World:
    root: Path
    data: Path  # the study's data (a copy of the demo folder)
    no_boxes: Path  # image folders, but bounding_box_depth.csv removed
    garbage_png: Path  # one PNG overwritten with text
    other_data: Path  # the demo data with a changed box CSV: another fingerprint
    swapped: Path  # the demo data with two visits' depth pictures exchanged (same names, same sizes, same CSVs)
    model: Path  # a metadata-only final model (train --save-models) of the study's data
    lacks_column: Path  # the metadata CSV without a clinical column that model reads
    study_url: str  # a study "s" created with TINY settings (no trials), and "empty"
    db: Path


@pytest.fixture(scope="module")
def world(demo_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("abuse")
    data = root / "data"
    shutil.copytree(demo_folder, data)
    no_boxes = root / "no-boxes"
    shutil.copytree(demo_folder, no_boxes)
    (no_boxes / "bounding_box_depth.csv").unlink()
    garbage_png = root / "garbage-png"
    shutil.copytree(demo_folder, garbage_png)
    sorted((garbage_png / "Depth_RGB").iterdir())[3].write_text("not a PNG")
    other = root / "other-data"
    shutil.copytree(demo_folder, other)
    (other / "bounding_box_depth.csv").write_text((other / "bounding_box_depth.csv").read_text() + "\n")
    swapped = root / "swapped"
    shutil.copytree(demo_folder, swapped)
    first, second = sorted((swapped / "Depth_RGB").iterdir())[:2]
    first.rename(swapped / "exchange.png")
    second.rename(first)
    (swapped / "exchange.png").rename(second)
    (root / "empty-choices.toml").write_text("[gamma]\nchoices = []\n")
    (root / "layout-space.toml").write_text("epochs_pretrain = 2\n")
    (root / "narrow.toml").write_text("[alpha_cap]\nlow = 2\nhigh = 3\n")
    (root / "wide-zoom.toml").write_text("[aug_zoom]\nlow = 0\nhigh = 2\n")
    (root / "folds-preset.toml").write_text("folds = 3\n")
    (root / "a-file.txt").write_text("x")
    (root / "empty.csv").write_text("")
    (root / "binary.csv").write_bytes(bytes(range(256)) * 4)
    (root / "nolabel.csv").write_text("Patient#,Appt#,DFU#\n1,0,1\n")
    (root / "badlabel.csv").write_text("Patient#,Appt#,DFU#,Healing Phase Abs\n1,0,1,I\n2,0,1,Q\n")
    (root / "few.csv").write_text("Patient#,Appt#,DFU#,Healing Phase Abs,Age\n1,0,1,I,50\n2,0,1,P,60\n3,0,1,R,70\n")
    db = root / "studies.db"
    url = f"sqlite:///{db}"
    for name in ("s", "empty"):
        created = run_cli("launch", "--study", name, "--storage", url, "--data", data, "--folds", "2",
                          "--preset", "quick", *TINY, "--workers", "0", cwd=root)  # fmt: skip
        assert created.returncode == 0, created.stderr
    model = root / "model"
    trained = run_cli("train", "--data", data, "--modalities", "metadata", "--folds", "2", "--set", "rf_trees=20",
                      "--save-models", "--out", model, "--cache-dir", root / "model-cache", cwd=root)  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    import joblib
    import pandas as pd

    from trainer.data._dataset import _find_metadata_csv

    read = joblib.load(model / "fold0-metadata.joblib").named_steps["encode"].feature_names_in_[0]
    pd.read_csv(_find_metadata_csv(data)).drop(columns=[read]).to_csv(root / "lacks-column.csv", index=False)
    return World(root, data, no_boxes, garbage_png, other, swapped, model, root / "lacks-column.csv", url, db)


def _cases(w: World, busy_port: int, real_csv: Path) -> dict[str, tuple[list, str]]:
    """name → (arguments, a fragment the error line must contain)."""
    new = ["launch", "--study", "new", "--storage", f"sqlite:///{w.root / 'new.db'}", "--workers", "0"]
    new_tiny = [*new, "--data", w.data, "--preset", "quick", *TINY]
    resume = ["launch", "--study", "s", "--storage", w.study_url, "--workers", "0"]
    s = ["--study", "s", "--storage", w.study_url]
    train = ["train", "--out", w.root / "out", "--cache-dir", w.root / "cache", "--data"]
    empty = ["--study", "empty", "--storage", w.study_url]
    return {
        # launch of a new study: checked before anything is written
        "folds 1": ([*new_tiny, "--folds", "1"], "folds must be at least 2, got 1"),
        "folds 0": ([*new_tiny, "--folds", "0"], "folds must be at least 2, got 0"),
        "more folds than patients": ([*new_tiny, "--folds", "99"], "cannot fill 99"),
        "trials -1": ([*new_tiny, "--trials", "-1"], "--trials must be at least 1, got -1"),
        "trials 0": ([*new_tiny, "--trials", "0"], "--trials must be at least 1"),
        "unknown preset to enqueue": ([*new_tiny, "--enqueue", "nosuch"], "nosuch: no such preset or file"),
        "enqueued preset changes folds": ([*new_tiny, "--enqueue", w.root / "folds-preset.toml"], "folds"),
        "missing box CSV": ([*new, "--data", w.no_boxes, "--preset", "quick"], "bounding_box_depth.csv"),
        "garbage PNG": ([*new, "--data", w.garbage_png, "--preset", "quick"], "unreadable image"),
        "gpus abc": ([*new_tiny, "--gpus", "abc"], "'abc' is not a GPU id"),
        "gpu named twice": ([*new_tiny, "--gpus", "0,0"], "named twice"),
        "negative workers": ([*new_tiny, "--workers", "-3"], "--workers must be 0 or more"),
        "workers per gpu 0": ([*new_tiny, "--workers-per-gpu", "0"], "--workers-per-gpu must be at least 1"),
        "unknown pruner": ([*new_tiny, "--pruner", "nosuch"], "--pruner must be one of"),
        "unknown sampler": ([*new_tiny, "--sampler", "grid"], "--sampler must be one of"),
        "set not a number": ([*new_tiny, "--set", "lr_stage1=abc"], "lr_stage1 = 'abc' is not a valid float"),
        "unknown setting": ([*new_tiny, "--set", "colour=blue"], "unknown setting 'colour'"),
        "space with no choices": ([*new_tiny, "--space", w.root / "empty-choices.toml"], "gamma"),
        "space range beyond a setting's": (
            [*new_tiny, "--space", w.root / "wide-zoom.toml"],
            "[aug_zoom]: aug_zoom must lie in [0, 1) or be 'level', got 2.0",
        ),  # fmt: skip
        "space changes the layout": ([*new_tiny, "--space", w.root / "layout-space.toml"], "epochs_pretrain"),
        "missing data": ([*new, "--data", w.root / "nope"], "nope: no such file or folder"),
        "no data for a new study": (new, "pass --data to create it"),
        "storage folder missing": (
            ["launch", "--study", "x", "--data", w.data, "--storage", "sqlite:////nonexistent-dir/x.db"],
            "folder /nonexistent-dir does not exist",
        ),  # fmt: skip
        "storage scheme": ([*new_tiny[:3], "--storage", "mysql://u:secret@h/db"], "unsupported scheme 'mysql'"),
        # resuming with other settings: refused, the study untouched
        "resume with a bad value": ([*resume, "--set", "lr_stage1=abc"], "lr_stage1 = 'abc' is not a valid float"),
        "resume with another lr": ([*resume, "--set", "lr_stage1=0.001"], "lr_stage1 0.0003 → 0.001"),
        "resume with other folds": ([*resume, "--folds", "3"], "folds 2 → 3"),
        "resume with another pruner": ([*resume, "--pruner", "median"], "--pruner near-best → median"),
        "resume without rules": ([*resume, "--no-rules"], "degeneracy rules on → off"),
        "resume with another seed": ([*resume, "--seed", "5"], "seed 0 → 5"),
        "resume with another preset": ([*resume, "--preset", "default"], "image_size 16 → 64"),
        "resume with another space": ([*resume, "--space", w.root / "narrow.toml"], "differs from the stored"),
        "resume with other data": ([*resume, "--data", w.other_data], "bounding_box_depth.csv"),
        "resume enqueuing nothing": ([*resume, "--enqueue", "nosuch"], "nosuch: no such preset"),
        # read-only commands never create a storage file
        "status without a storage": (["status", "--study", "demo"], f"no study storage at {w.root / 'cwd'}"),
        "trials of a missing journal": (
            ["trials", "--study", "s", "--storage", f"journal:///{w.root}/j.log"],
            f"no study storage at {w.root}/j.log",
        ),  # fmt: skip
        "status through a dead proxy": (
            ["status", "--study", "s", "--storage", "grpc://127.0.0.1:1"],
            "cannot reach the storage proxy",
        ),  # fmt: skip
        "password in the query": (
            ["status", "--study", "s", "--storage", "postgresql://u@127.0.0.1:9/db?password=secret"],
            "password=***",
        ),  # fmt: skip
        "unknown study": (
            ["trials", "--study", "typo", "--storage", w.study_url],
            "no study named 'typo' (studies here: ",
        ),
        "trials format": (["trials", *s, "--format", "xml"], "--format must be table, csv or json"),
        "best onto a folder": (["best", *s, "--out", w.root], "is a folder"),
        "best into a missing folder": (["best", *s, "--out", "/nonexistent-dir/sub/best.toml"], "does not exist"),
        "best without a complete trial": (["best", *empty, "--out", w.root / "b.toml"], "no complete trial yet"),
        "report onto a file": (["report", *s, "--out", w.root / "a-file.txt"], "is a file"),
        "report of nothing": (["report", *empty, "--out", w.root / "rep"], "nothing to plot"),
        "dashboard port out of range": (["dashboard", "--storage", w.study_url, "--port", "99999"], "--port"),
        "dashboard on a busy port": (
            ["dashboard", "--storage", w.study_url, "--port", busy_port],
            f"cannot listen on 127.0.0.1:{busy_port}",
        ),  # fmt: skip
        "proxy port 0": (["proxy", "--storage", w.study_url, "--port", "0"], "--port"),
        "worker index -5": (["worker", *s, "--index", "-5"], "--index"),
        "worker on swapped pictures": (["worker", *s, "--data", w.swapped], "images_sha256"),
        # predict: the model and the data must fit each other; nothing written otherwise
        "predict without a model": (["predict", "--model", w.root / "nosuch", "--data", w.data], "no config.toml"),
        "predict a data folder as the model": (["predict", "--model", w.data, "--data", w.data], "no config.toml"),
        "predict data without a column the model reads": (
            ["predict", "--model", w.model, "--data", w.lacks_column, "--out", w.root / "p.csv"],
            "that the model in",
        ),
        "predict into a missing folder": (
            ["predict", "--model", w.model, "--data", w.data, "--out", w.root / "nosuch" / "p.csv"],
            "does not exist",
        ),
        "predict on no data": (["predict", "--model", w.model, "--data", w.root / "nosuch.csv"], "nosuch.csv"),
        # a GPU that does not exist here: the worker must stop, not train on the CPU
        "worker on a GPU it cannot see": (["worker", *s, "--gpu", "7"], "--gpu 7: this worker sees no GPU"),
        "worker on two GPUs": (["worker", *s, "--gpu", "0,1"], "one GPU id per worker"),
        "worker on a bad GPU id": (["worker", *s, "--gpu", "first"], "'first' is not a GPU id"),
        "worker outage limit": (["worker", *s], "DFU_SEARCH_OUTAGE_LIMIT='soon'"),
        "demo-data onto a file": (["demo-data", w.root / "a-file.txt"], "a-file.txt"),
        "demo-data old option": (["demo-data", w.root / "d", "--image-noise", "2"], "No such option: --image-noise"),
        "demo-data shots": (["demo-data", w.root / "d", "--shots", "9"], "--shots must be between 1 and 4"),
        "demo-data fixed world of a CSV": (
            ["demo-data", w.root / "d", "--from-metadata", w.root / "nolabel.csv", "--fixed-world"],
            "--fixed-world draws new patients",
        ),
        "replay without curves": (["replay", "--curves", w.root / "nope.json.gz", "--out", w.root / "r"], "nope"),
        "unknown command": (["tune"], "No such command 'tune'"),
        # train on bad data or settings: nothing written, not even the output folder
        "train with folds 1": (["train", "--data", w.data, "--folds", "1"], "folds must be at least 2"),
        "train on a missing CSV": ([*train, w.root / "nope.csv"], "nope.csv: no such file"),
        "train on an empty CSV": ([*train, w.root / "empty.csv"], "empty.csv: file is empty"),
        "train on a binary file": ([*train, w.root / "binary.csv"], "binary.csv: not a readable CSV"),
        "train without labels": ([*train, w.root / "nolabel.csv"], "no column 'Healing Phase Abs'"),
        "train on an unknown label": ([*train, w.root / "badlabel.csv"], "badlabel.csv: line 3: unknown label 'Q'"),
        "train with too few patients": ([*train, w.root / "few.csv"], "3 patients cannot fill 5"),
        "train with a bad value": ([*train, real_csv, "--set", "gamma=lots"], "gamma = 'lots' is not a valid float"),
        "train with an unknown preset": ([*train, real_csv, "--preset", "turbo"], "turbo: no such preset or file"),
        "train images from a bare CSV": (
            [*train, real_csv, "--modalities", "metadata,depth_rgb"],
            "bare metadata CSV has no images",
        ),  # fmt: skip
        "train a garbage PNG": ([*train, w.garbage_png, "--preset", "quick"], "unreadable image"),
        "storage password shown": (
            ["status", "--study", "x", "--storage", "postgresql://dfu:secret@127.0.0.1:9/dfu"],
            "cannot reach the study storage postgresql://dfu:***@127.0.0.1:9/dfu",
        ),  # fmt: skip
    }


def _tree(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*")}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run_here(args: list, cwd: Path, env: dict, monkeypatch: pytest.MonkeyPatch, capfd) -> tuple[int, str, str]:
    """``dfu-search ARGS`` through the console entry point in this process; (exit code, stdout, stderr)."""
    from search.cli import main

    with monkeypatch.context() as patch:
        patch.chdir(cwd)
        for key, value in env.items():
            patch.setenv(key, value)
        patch.setattr(sys, "argv", ["dfu-search", *map(str, args)])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    out, err = capfd.readouterr()
    return code, out, err


def test_abusive_commands_give_one_error_line_and_change_nothing(
    world: World, real_csv: Path, monkeypatch: pytest.MonkeyPatch, capfd
) -> None:
    cwd = world.root / "cwd"  # an empty working directory: the default storage would land here
    cwd.mkdir(exist_ok=True)
    before_tree, before_db = _tree(world.root), _digest(world.db)
    failures = []
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        cases = _cases(world, busy.getsockname()[1], real_csv)
        for name, (args, fragment) in cases.items():
            env = {"DFU_SEARCH_STORAGE": "", "DFU_SEARCH_OUTAGE_LIMIT": "soon" if "outage" in name else "120",
                   "CUDA_VISIBLE_DEVICES": ""}  # restored after each case: `--gpu` sets it  # fmt: skip
            code, out, err = _run_here(args, cwd, env, monkeypatch, capfd)
            errors = [line for line in err.splitlines() if line.startswith("error:")]
            problems = [f"exit {code}"] if code != 2 else []
            if len(errors) != 1:
                problems.append(f"{len(errors)} error lines")
            elif str(fragment) not in errors[0]:
                problems.append(f"{fragment!r} not in {errors[0]!r}")
            if "Traceback" in err + out or "secret" in err + out:
                problems.append("traceback or password shown")
            if problems:
                failures.append(f"{name}: {', '.join(problems)}\n    {err.strip()[-600:]}")
    print(f"{len(cases)} abusive commands")
    assert not failures, "\n".join(failures)
    assert _tree(world.root) == before_tree, sorted(_tree(world.root) ^ before_tree)
    assert _digest(world.db) == before_db  # the existing study, byte for byte
    assert not Path("/nonexistent-dir").exists()

    # the same through a real process
    real = run_cli("status", "--study", "demo", cwd=cwd, env={"DFU_SEARCH_STORAGE": ""})
    assert (
        real.returncode == 2
        and real.stderr.strip()
        == f"error: no study storage at {cwd / 'dfu-search.db'} "
        "(--storage sqlite:///dfu-search.db); create a study with dfu-search launch"
    )
    assert _tree(world.root) == before_tree
