"""The command line end to end, as a user runs it: real processes, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

CLI = [sys.executable, "-m", "search"]


def run(*args: str | Path, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *map(str, args)], capture_output=True, text=True, timeout=600, cwd=cwd, env={**os.environ, **(env or {})}
    )


def test_help_does_not_load_tensorflow_keras_or_optuna() -> None:
    """Nor SQLAlchemy: storage/__init__.py says it loads only when a storage is opened."""
    code = ("import sys, search.cli, storage, search; print(sorted(m for m in ('tensorflow', 'keras', 'optuna', "
            "'sklearn', 'sqlalchemy') if m in sys.modules))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    result = run("--help")
    assert result.returncode == 0 and "train" in result.stdout and "demo-data" in result.stdout


def test_train_metadata_only_on_real_csv_writes_result_json(real_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run(
        "train",
        "--data",
        real_csv,
        "--modalities",
        "metadata",
        "--folds",
        "3",
        "--seed",
        "1",
        "--set",
        "rf_trees=60",
        "--out",
        out,
        "--cache-dir",
        tmp_path / "cache",
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "result.json").read_text())
    assert {"qwk", "kappa", "accuracy", "macro_f1", "folds", "config"} <= set(summary)
    assert summary["config"]["rf_trees"] == 60 and summary["config"]["seed"] == 1 and summary["config"]["folds"] == 3
    assert [f["fold"] for f in summary["folds"]] == [0, 1, 2]
    assert sum(f["n_val_visits"] for f in summary["folds"]) == 890
    for fold in summary["folds"]:
        assert {"qwk", "kappa", "n_val_visits", "pred_histogram"} <= set(fold)
        assert sum(fold["pred_histogram"]) == fold["n_val_visits"]
    assert 0.25 < summary["qwk"] < 0.6  # a real signal, far from a leak
    # every visit's out-of-fold prediction, in the CSV's order: each fold's rows score that fold's QWK
    oof = pd.read_csv(out / "oof.csv")
    assert len(oof) == 890 and sorted(oof["fold"].unique()) == [0, 1, 2]
    assert list(oof["Healing Phase Abs"]) == list(pd.read_csv(real_csv)["Healing Phase Abs"])
    for fold in summary["folds"]:
        rows = oof[oof["fold"] == fold["fold"]]
        assert cohen_kappa_score(rows["Healing Phase Abs"], rows["predicted"], weights="quadratic") == pytest.approx(
            fold["qwk"], abs=1e-12
        )
    assert "mean QWK" in result.stdout


def test_missing_image_through_the_cli_leaves_the_cache_untouched(demo_copy: Path, tmp_path: Path) -> None:
    victim = sorted((demo_copy / "Depth_RGB").iterdir())[0]
    victim.unlink()
    result = run(
        "train",
        "--data",
        demo_copy,
        "--preset",
        "quick",
        "--folds",
        "2",
        "--out",
        tmp_path / "out",
        "--cache-dir",
        tmp_path / "cache",
    )
    assert result.returncode == 2
    assert f"image {victim.name} not found in Depth_RGB/" in result.stderr.splitlines()[-1]
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.npy"))


def test_demo_data_writes_the_study_layout(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = run("demo-data", out, "--patients", "6", "--seed", "3")
    assert result.returncode == 0, result.stderr
    for name in ("DataMaster_Processed_V12_WithMissing.csv", "bounding_box_depth.csv", "bounding_box_thermal.csv"):
        assert (out / name).is_file()
    for folder in ("Depth_RGB", "Depth_Map_IMG", "Thermal_RGB", "Thermal_Map_IMG"):
        assert len(list((out / folder).glob("*.png"))) > 0
    again = run("demo-data", out)
    assert again.returncode == 2 and "not empty" in again.stderr
