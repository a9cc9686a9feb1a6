"""Browsing and querying a finished study: artifacts, the Python API, ``trials``/``best``/``report``, the final model.

The study is :func:`conftest.preset_study` (real workers on SQLite). The PostgreSQL cases read a copy
of it written into a real server with ``optuna.copy_study``: the query code path on PostgreSQL is
the same real reads; the workers on PostgreSQL are covered in test_study and test_postgres.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from _cli import artifact_file, load, run_cli
from PIL import Image

from search import open_study
from search.study import CURVE_COLUMNS
from search.visualization import artifact_names, default_artifact_dir
from trainer.config import TrainConfig, load_config

States = optuna.trial.TrialState


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def study_url(request: pytest.FixtureRequest, preset_study) -> str:
    if request.param == "sqlite":
        return preset_study.url
    url = request.getfixturevalue("postgres").create_database()
    optuna.copy_study(from_study_name="presets", from_storage=preset_study.url, to_storage=url)
    return url


def _by_state(url: str) -> dict[str, list[optuna.trial.FrozenTrial]]:
    trials: dict[str, list] = {}
    for t in load(url, "presets").trials:
        trials.setdefault(t.state.name, []).append(t)
    return trials


def test_every_finished_trial_has_its_diagnostics_as_artifacts(preset_study) -> None:
    study = load(preset_study.url, "presets")
    store = default_artifact_dir(preset_study.url)
    assert store == preset_study.folder / "dfu-search-artifacts"  # beside the SQLite file
    for trial in study.trials:
        names = artifact_names(study, trial)
        assert {"learning-curve.png", "result.json"} <= set(names), (trial.number, names)
        curve_png = Image.open(artifact_file(study, trial, "learning-curve.png", store))
        assert curve_png.size[0] > 600 and curve_png.size[1] > 400
        result = json.loads(artifact_file(study, trial, "result.json", store).read_text())
        assert result["epochs_trained"] == trial.user_attrs["epochs_trained"]
        # epochs reported again from the pre-training store are in the curve but were not trained
        curve = trial.user_attrs["curve"]
        assert trial.user_attrs["epochs_trained"] == sum(1 for row in curve if not (len(row) > 13 and row[13]))
        if trial.state == States.PRUNED:
            assert result["state"] == "pruned" and result["prune_reason"] == trial.user_attrs["prune_reason"]
        else:
            assert result["state"] == "complete" and result["qwk"] == pytest.approx(trial.value)
            assert "confusion.png" in names
            assert sum(map(sum, np.sum([f["confusion"] for f in result["folds"]], axis=0))) == result["data"]["visits"]
        # the curves behind the figure: train QWK and validation loss recorded for every epoch
        assert all(row[8] is not None and row[9] is not None for row in trial.user_attrs["curve"])


def test_python_api_and_best_answer_from_the_trials(study_url: str, tmp_path: Path) -> None:
    view = open_study("presets", storage=study_url)
    frame = view.trials_frame()
    trials = load(study_url, "presets").trials
    assert list(frame["number"]) == [t.number for t in trials]
    assert {"number", "state", "value", "alpha_cap", "lr_pretrain", "lr_stage1", "lr_stage2", "fusion_init",
            "prune_rule", "prune_fold", "prune_stage", "prune_epoch", "best_epoch_pretrain", "best_epoch_stage1",
            "best_epoch_stage2", "epochs_trained", "duration_s", "worker"} <= set(frame.columns)  # fmt: skip
    pruned = [t for t in trials if t.state == States.PRUNED]
    assert pruned, "the fixture study must have a pruned trial"
    for trial in pruned:
        row = frame.set_index("number").loc[trial.number]
        reason = trial.user_attrs["prune_reason"]
        assert (row["prune_rule"], row["prune_fold"], row["prune_stage"], row["prune_epoch"]) == (
            reason["rule"], reason["fold"], reason["stage"], reason["epoch"])  # fmt: skip
        assert row["epochs_trained"] == trial.user_attrs["epochs_trained"]
        # Optuna's value of a pruned trial is one fold's QWK at one epoch: partial, never among the results
        assert pd.isna(row["value"]) and row["partial_value"] == trial.value and not row["value_is_final"]
    assert frame.loc[frame["state"] == "COMPLETE", "value_is_final"].all()
    top = frame.sort_values("value", ascending=False).iloc[0]
    assert top["number"] == max((t for t in trials if t.state == States.COMPLETE), key=lambda t: t.value).number
    degenerate = frame[frame["enqueued"] == "degenerate"].iloc[0]
    assert degenerate["alpha_cap"] == "none"  # pinned outside the space, still in its row
    assert degenerate["lr_stage1"] == pytest.approx(1e-6)

    best = max((t for t in trials if t.state == States.COMPLETE), key=lambda t: t.value)
    config = view.best_config()
    best_toml = tmp_path / "best.toml"
    output = _ok(run_cli("best", "--study", "presets", "--storage", study_url, "--out", best_toml))
    assert f"trial {best.number}: mean QWK {best.value:.4f}" in output
    assert load_config(None, best_toml, []) == config
    assert isinstance(config, TrainConfig)
    assert config.as_dict() == best.user_attrs["config"]
    assert config.lr_stage1 == pytest.approx(best.params["lr_stage1"])

    summary = view.prune_summary()
    assert summary.loc["total", "total"] == len(pruned)
    for trial in pruned:
        reason = trial.user_attrs["prune_reason"]
        assert summary.loc[reason["rule"], reason["stage"]] >= 1

    # epochs pruning avoided: each pruned trial's maximum (folds × every stage's epochs) minus what it reached,
    # trained or loaded from the pre-training store (the store's savings, counted apart)
    def cached(trial) -> int:
        return sum(1 for row in trial.user_attrs["curve"] if row[CURVE_COLUMNS.index("cached")])

    expected = sum(
        TrainConfig(**{**t.user_attrs["config"], "modalities": ()}).steps_per_fold * t.user_attrs["config"]["folds"]
        - t.user_attrs["epochs_trained"]
        - cached(t)
        for t in pruned
    )
    assert view.epochs_saved() == expected > 0
    assert view.epochs_from_store() == sum(cached(t) for t in trials)


def test_queries_never_write_to_the_storage(preset_study) -> None:
    database = preset_study.folder / "dfu-search.db"
    before = hashlib.sha256(database.read_bytes()).hexdigest()
    view = open_study("presets", storage=preset_study.url)
    view.trials_frame(), view.best_config(), view.prune_summary(), view.epochs_saved()
    assert run_cli("trials", "--study", "presets", "--storage", preset_study.url).returncode == 0
    assert hashlib.sha256(database.read_bytes()).hexdigest() == before


def test_trials_command_in_three_formats(study_url: str) -> None:
    rows = json.loads(_ok(run_cli("trials", "--study", "presets", "--storage", study_url, "--format", "json")))
    by_state = _by_state(study_url)
    assert len(rows) == sum(map(len, by_state.values()))
    for row in rows:
        assert {"state", "prune_reason", "value", "number"} <= set(row)
    pruned_rows = [r for r in rows if r["state"] == "PRUNED"]
    assert [r["prune_reason"] for r in pruned_rows] == [t.user_attrs["prune_reason"] for t in by_state["PRUNED"]]
    assert [(r["value"], r["partial_value"], r["value_is_final"]) for r in pruned_rows] == [
        (None, pytest.approx(t.value, abs=1e-12), False) for t in by_state["PRUNED"]]  # fmt: skip
    assert all(r["prune_reason"] is None for r in rows if r["state"] == "COMPLETE")

    csv = pd.read_csv(
        io.StringIO(_ok(run_cli("trials", "--study", "presets", "--storage", study_url, "--format", "csv")))
    )
    assert list(csv["state"]) == [r["state"] for r in rows] and {"prune_rule", "partial_value"} <= set(csv.columns)

    table = _ok(run_cli("trials", "--study", "presets", "--storage", study_url, env={"COLUMNS": "200"}))
    assert "pruned" in table and pruned_rows[0]["prune_reason"]["rule"] in table
    reason = pruned_rows[0]["prune_reason"]
    assert f"f{reason['fold']} " in table and f" e{reason['epoch']}" in table  # integers, not 0.0 / 4.0
    narrow = _ok(run_cli("trials", "--study", "presets", "--storage", study_url, env={"COLUMNS": "80"}))
    lines = narrow.splitlines()
    assert max(map(len, lines)) <= 80 and "nan" not in narrow and ".0 " not in narrow
    header = next(line for line in lines if line.lstrip().startswith("#"))
    assert header.split()[-1] == "ep"  # every column kept; only the prune column gives way ...
    # ... by wrapping, never cut: the prune column's lines, read top to bottom, hold every rule and partial value
    start = header.index("pruned")
    column = "".join(re.sub(r"\s+\d+\s*$", "", line[start:]).strip() for line in lines[lines.index(header) + 2 :])
    assert "…" not in narrow
    for row in pruned_rows:
        assert row["prune_reason"]["rule"] in column and f"partial{row['partial_value']:.3f}" in column.replace(" ", "")


def test_report_writes_the_plots(study_url: str, tmp_path: Path) -> None:
    out = tmp_path / "report"
    output = _ok(run_cli("report", "--study", "presets", "--storage", study_url, "--out", out))
    for plot in ("history", "intermediate", "parallel"):
        assert f"{plot}: ok" in output
        assert (out / f"{plot}.html").stat().st_size > 1000
        assert Image.open(out / f"{plot}.png").size[0] > 300
    assert "importances: " in output  # drawn, or skipped with the reason (it needs two complete trials)
    intermediate = (out / "intermediate.html").read_text()
    assert "Trial1" in intermediate.replace(" ", "")  # the pruned degenerate trial is one of the lines
    # the collapse map: alpha cap × pre-training LR, trials coloured by prune rule
    assert "collapse-map: ok" in output and Image.open(out / "collapse-map.png").size[0] > 500
    assert "collapse-map.png" in (out / "index.html").read_text()
    assert (out / "plotly.min.js").is_file()  # the HTML works offline
    index = (out / "index.html").read_text()
    assert "epochs pruning avoided" in index and f"pruned {len(_by_state(study_url)['PRUNED'])}" in index
    assert "new patients: expected QWK on new patients" in output and "expected QWK on new patients" in index


def test_best_config_round_trips_into_train_and_the_final_model_reloads(preset_study, tmp_path: Path) -> None:
    best_toml = tmp_path / "best.toml"
    shown = _ok(run_cli("best", "--study", "presets", "--storage", preset_study.url, "--out", best_toml))
    view = open_study("presets", storage=preset_study.url)
    assert load_config(None, best_toml, []) == view.best_config()
    # one complete trial: its own bootstrap estimate, said to correct no choice; in the printout and the TOML's header
    estimate = view.selection_estimate()
    assert estimate.trials == 1 and estimate.best_trial == view.best_trial().number
    assert estimate.low <= estimate.estimate <= estimate.high and estimate.win_shares == {estimate.best_trial: 1.0}
    said = f"expected QWK on new patients {estimate.estimate:.3f}"
    assert said in shown and "no choice to correct" in shown
    assert f"# {said}" in best_toml.read_text()

    final = tmp_path / "final"
    _ok(run_cli("train", "--data", preset_study.data, "--config", best_toml, "--save-models", "--out", final,
                "--cache-dir", preset_study.cache))  # fmt: skip
    result = json.loads((final / "result.json").read_text())
    trial = view.best_trial()
    # the same config on the same data and seed: the same folds, RF, networks and score as the trial, with each
    # fold's pre-training taken from the store the study filled (same cache, same degeneracy rules)
    assert result["qwk"] == pytest.approx(trial.value, abs=1e-12)
    assert [f["stages"]["pretrain"]["cached"] for f in result["folds"]] == [True] * len(result["folds"])
    assert load_config(None, final / "config.toml", []) == view.best_config()
    # the out-of-fold predictions the trial kept are the ones train writes (to the 16-bit precision they are kept at)
    from search.study import decode_oof, decode_visits

    kept = decode_oof(trial.user_attrs["oof"])
    written = pd.read_csv(final / "oof.csv")
    assert list(written["fold"]) == list(kept.folds) and sorted(set(kept.folds)) == list(range(len(result["folds"])))
    assert np.abs(written[["p_I", "p_P", "p_R"]].to_numpy() - kept.probabilities).max() < 2e-5
    visits = decode_visits(view.study.user_attrs["oof_visits"])
    assert [["I", "P", "R"][i] for i in visits.labels] == list(written["Healing Phase Abs"])
    assert len(set(visits.patients)) == written["Patient#"].nunique()

    from trainer import load_final_model, patient_folds, prepare, score

    model = load_final_model(final)
    dataset, images = prepare(preset_study.data, model.config, preset_study.cache)
    folds = patient_folds(dataset.metadata.labels, dataset.metadata.patients, model.config.folds, model.config.seed)
    for fold in folds:
        probabilities = model.predict_fold(fold.index, dataset, images, fold.val)
        reloaded = score(dataset.metadata.labels[fold.val], probabilities.argmax(axis=1)).qwk
        assert reloaded == pytest.approx(result["folds"][fold.index]["qwk"], abs=1e-9)

    # predict: the fold ensemble on the data it was trained on (labelled: scored with an interval over patients) ...
    predictions = tmp_path / "predictions.csv"
    ran = run_cli("predict", "--model", final, "--data", preset_study.data, "--out", predictions,
                  "--cache-dir", preset_study.cache)  # fmt: skip
    shown = _ok(ran)
    assert "WARNING" not in ran.stdout + ran.stderr, ran.stderr[-2000:]  # e.g. TensorFlow's retracing note, per fold
    table = pd.read_csv(predictions)
    probabilities = table[["p_I", "p_P", "p_R"]].to_numpy()
    assert len(table) == len(dataset.metadata) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    ensemble = np.mean([model.predict_fold(f.index, dataset, images, np.arange(len(dataset.metadata)))
                        for f in folds], axis=0)  # fmt: skip
    assert np.allclose(probabilities, ensemble, atol=1e-6)
    assert list(table["predicted"]) == [("I", "P", "R")[i] for i in ensemble.argmax(axis=1)]
    qwk = score(dataset.metadata.labels, ensemble.argmax(axis=1)).qwk
    low, high = (float(x) for x in re.search(r"interval over patients ([-\d.]+)–([-\d.]+)\)", shown).groups())
    assert f"QWK {qwk:.3f}" in shown and low <= round(qwk, 3) <= high < 1
    # ... and on new visits without labels: the same probabilities, nothing scored
    unlabelled = tmp_path / "unlabelled"
    shutil.copytree(preset_study.data, unlabelled)
    from trainer.data._dataset import _find_metadata_csv
    from trainer.schema import LABEL

    csv = _find_metadata_csv(unlabelled)
    pd.read_csv(csv).drop(columns=[LABEL]).to_csv(csv, index=False)
    new = tmp_path / "new.csv"
    shown = _ok(run_cli("predict", "--model", final, "--data", unlabelled, "--out", new, "--cache-dir", tmp_path / "c"))
    assert "no labels" in shown and LABEL not in pd.read_csv(new).columns
    assert np.allclose(pd.read_csv(new)[["p_I", "p_P", "p_R"]].to_numpy(), probabilities, atol=1e-6)
    # an image model given a bare metadata CSV: one error line, nothing written
    failed = run_cli("predict", "--model", final, "--data", csv, "--out", tmp_path / "none.csv")
    errors = [line for line in failed.stderr.splitlines() if line.startswith("error:")]
    assert failed.returncode == 2 and len(errors) == 1 and "need a data folder" in errors[0], failed.stderr
    assert "Traceback" not in failed.stderr
    assert not (tmp_path / "none.csv").exists()


def _ok(result) -> str:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout
