"""Is the study's best QWK what the chosen model scores on new patients? The naive value against BBC-CV, checked
against the truth of a known world.

The demo-data generator with ``--fixed-world`` is one world: folders drawn with other seeds are new patients of it.
Per study: a training folder (its own seed), a study as a user runs it (TPE, the default pruner, the quick preset
as ``make demo`` runs it), the best trial's config trained on the whole folder (``best`` → ``train --save-models``,
the fold ensemble), and that model scored by ``predict`` on one shared test folder of ≥ 2,000 fresh visits. Each
study reports its naive best CV QWK, the BBC-CV estimate and its 95 % interval, and the truth; over studies, each
estimate's mean bias and mean absolute error, and how many intervals cover the truth.

    .venv/bin/python bench/selection.py                       # → bench/results/selection.json (≈ 40 min here)
    .venv/bin/python bench/selection.py --studies 2 --trials 6 --out /tmp/selection.json   # a quick look
    .venv/bin/python bench/selection.py --pruner none --out bench/results/selection-no-pruner.json  # every trial complete
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import REPO, WORK, dfu_command, emit, machine, run_command, shown

log = logging.getLogger("bench.selection")

RESULTS = REPO / "bench" / "results"
HERE = WORK / "selection"
#: The study as make demo runs it: the quick preset at batch 8 on a small folder, 3 folds, two workers.
STUDY_SETTINGS = ["--preset", "quick", "--set", "batch_size=8", "--folds", "3"]
TRAIN_SEED, TEST_SEED = 100, 999


def run(command: list[str], log_file: Path, timeout: float = 3600) -> None:
    log.info("$ %s", shown(command))
    code, tail = run_command(command, timeout, log_file=log_file)
    if code != 0:
        sys.exit(f"error: `{shown(command)}` failed with exit {code}:\n{tail}")


def demo_folder(path: Path, seed: int, patients: int, shots: int) -> Path:
    from demodata import METADATA_NAME

    if not (path / METADATA_NAME).exists():
        shutil.rmtree(path, ignore_errors=True)
        run(dfu_command("demo-data", path, "--fixed-world", "--seed", seed, "--patients", patients, "--shots", shots),
            path.with_suffix(".log"))  # fmt: skip
    return path


def one_study(index: int, args: argparse.Namespace, test: Path) -> dict:
    """A study on its own training folder, then its best configuration's fold ensemble scored on ``test``."""
    folder = HERE / (f"study-{index}" if args.pruner is None else f"pruner-{args.pruner}-study-{index}")
    if not args.rescore:
        run_study(folder, index, args, test)
    return score_study(folder, index, args, test)


def run_study(folder: Path, index: int, args: argparse.Namespace, test: Path) -> None:
    """Launch the study as a user would, then ``best`` → ``train --save-models`` → ``predict`` on ``test``."""
    folder.mkdir(parents=True, exist_ok=True)
    data = demo_folder(folder / "data", TRAIN_SEED + index, args.patients, args.shots)
    storage = f"sqlite:///{folder / 'study.db'}"
    started = time.perf_counter()
    run(dfu_command("launch", "--study", "selection", "--storage", storage, "--data", data, "--workers", args.workers,
            "--trials", args.trials, *STUDY_SETTINGS, "--seed", 0, "--cache-dir", HERE / "cache",
            "--log-dir", folder / "logs", *(["--pruner", args.pruner] if args.pruner else [])),
        folder / "launch.log")  # fmt: skip
    (folder / "study-seconds.txt").write_text(f"{time.perf_counter() - started:.1f}\n")
    best_toml = folder / "best.toml"
    run(dfu_command("best", "--study", "selection", "--storage", storage, "--out", best_toml), folder / "best.log")
    final = folder / "final"
    shutil.rmtree(final, ignore_errors=True)
    run(dfu_command("train", "--data", data, "--config", best_toml, "--save-models", "--out", final,
            "--cache-dir", HERE / "cache"), folder / "train.log")  # fmt: skip
    run(dfu_command("predict", "--model", final, "--data", test, "--out", folder / "test-predictions.csv",
            "--cache-dir", HERE / "cache"), folder / "predict.log")  # fmt: skip


def score_study(folder: Path, index: int, args: argparse.Namespace, test: Path) -> dict:
    """The study's naive and BBC-CV estimates against the truth: ``predict``'s QWK of the fold ensemble on the test
    folder, and each fold's model alone there (what one fold's CV value estimates, before the ensemble's gain)."""
    from search import open_study
    from trainer import load_final_model, score
    from trainer.schema import CLASSES, LABEL

    view = open_study("selection", f"sqlite:///{folder / 'study.db'}")
    trials = view.trials()
    estimate = view.selection_estimate(trials, bootstraps=args.bootstraps)
    if estimate is None:
        sys.exit(f"error: study {index} has no complete trial with out-of-fold predictions")
    table = pd.read_csv(folder / "test-predictions.csv")
    codes = {name: i for i, name in enumerate(CLASSES)}
    labels = table[LABEL].map(codes).to_numpy()
    truth = score(labels, table["predicted"].map(codes).to_numpy()).qwk
    model = load_final_model(folder / "final")
    dataset, images = model.inputs(test, HERE / "cache")
    visits = np.arange(len(dataset.metadata))
    fold_truths = [score(labels, model.predict_fold(f, dataset, images, visits).argmax(axis=1)).qwk
                   for f in range(model.n_folds)]  # fmt: skip
    states = view.trials_frame(trials)["state"].value_counts().to_dict()
    row = {
        "study": index,
        "data_seed": TRAIN_SEED + index,
        "trials": states,
        "best_trial": estimate.best_trial,
        "naive": estimate.naive_qwk,
        "bbc": estimate.estimate,
        "bbc_low": estimate.low,
        "bbc_high": estimate.high,
        "covered": estimate.low <= truth <= estimate.high,
        "truth": truth,
        "truth_single_fold_models": fold_truths,
        "complete_with_oof": estimate.trials,
        "tied_with_best": {str(k): round(v, 3) for k, v in estimate.tied_with_best().items()},
        "study_seconds": float((folder / "study-seconds.txt").read_text())
        if (folder / "study-seconds.txt").exists()
        else None,
    }
    log.info("study %d: naive %.3f, BBC-CV %.3f (%.3f–%.3f), truth %.3f (single fold models %s)", index, row["naive"],
             row["bbc"], row["bbc_low"], row["bbc_high"], truth, " ".join(f"{q:.3f}" for q in fold_truths))  # fmt: skip
    return row


def summary(rows: list[dict]) -> dict:
    """Each estimate's bias and mean absolute error against the truth (the fold ensemble on new patients), and
    against one fold's model on new patients (what a CV value estimates, the ensemble's gain left out)."""
    truths = {
        "truth": np.array([r["truth"] for r in rows]),
        "single_fold_truth": np.array([np.mean(r["truth_single_fold_models"]) for r in rows]),
    }
    out: dict = {}
    for against, truth in truths.items():
        for name in ("naive", "bbc"):
            error = np.array([r[name] for r in rows]) - truth
            out.setdefault(against, {})[name] = {
                "mean_bias": float(error.mean()),
                "mean_absolute_error": float(np.abs(error).mean()),
                "bias_range": [float(error.min()), float(error.max())],
            }
        out[against]["mae_ratio_bbc_to_naive"] = (
            out[against]["bbc"]["mean_absolute_error"] / out[against]["naive"]["mean_absolute_error"]
        )
    out["covered"] = f"{sum(r['covered'] for r in rows)} of {len(rows)}"
    out["covered_single_fold_truth"] = (
        f"{sum(r['bbc_low'] <= np.mean(r['truth_single_fold_models']) <= r['bbc_high'] for r in rows)} of {len(rows)}"
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", type=int, default=8)
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--patients", type=int, default=80, help="patients per training folder (≈ 3.3 visits each)")
    parser.add_argument("--test-patients", type=int, default=640, help="patients of the test folder")
    parser.add_argument("--shots", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--bootstraps", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=RESULTS / "selection.json")
    parser.add_argument("--rescore", action="store_true", help="score the studies already run, run nothing")
    parser.add_argument("--pruner", help="launch's --pruner (default: the study default, near-best)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    HERE.mkdir(parents=True, exist_ok=True)
    test = demo_folder(HERE / "test", TEST_SEED, args.test_patients, args.shots)
    from demodata import METADATA_NAME

    test_visits = len(pd.read_csv(test / METADATA_NAME))
    rows = [one_study(i, args, test) for i in range(args.studies)]
    settings = {k: v for k, v in vars(args).items() if k not in ("out", "rescore")}
    study = [*STUDY_SETTINGS, *(["--pruner", args.pruner] if args.pruner else [])]
    emit({"bench": "selection", "machine": machine(), "settings": settings, "study": study,
          "test_visits": test_visits, "studies": rows, "summary": summary(rows)}, args.out)  # fmt: skip


if __name__ == "__main__":
    main()
