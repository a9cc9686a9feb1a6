"""What `images_add_nothing` can see on the recorded v2 tables (docs/pruning.md, the rule's evidence).

The tables were recorded with ``--no-rules``, before reports carried ``weight_change``. For each pre-training
fold this cuts the stage where the rules would have ended it live and asks whether it ends one class (the rule's
first half); for each stage-1 fold it estimates the weights' relative change by its second epoch as
``ADAM_FACTOR · lr_stage1 · steps`` (measured live: 1.5–1.9 · LR · steps; 2 is the cautious end) and asks
whether the fold would count as "weights still", and whether its predictions are still too.

    .venv/bin/python bench/rules_on_tables.py   # writes bench/results/rules-on-tables.json
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
from _common import REPO

from search.pruners import DegeneracyRules
from search.replay import load_recording
from search.study import report_from_row

log = logging.getLogger("bench.rules_on_tables")

RESULTS = REPO / "bench" / "results"
ADAM_FACTOR = 2.0


def table_evidence(path: Path, rules: DegeneracyRules) -> dict:
    recording = load_recording(path)
    finals = np.array([t.value for t in recording.trials])
    median = float(np.median(finals))
    counts = dict.fromkeys(
        ("pretrain_folds", "ends_one_class", "stage1_folds", "weights_still", "also_predictions_still"), 0
    )
    still_and_no_better: list[dict] = []
    for trial in recording.trials:
        flagged = False
        for fold in range(recording.folds):
            rows = [report_from_row(row) for row in trial.curve if row[1] == fold]
            pretrain = [r for r in rows if r.stage == "pretrain"]
            stage1 = [r for r in rows if r.stage == "stage1"][: rules.nothing_epochs]
            if pretrain:
                counts["pretrain_folds"] += 1
                counts["ends_one_class"] += rules.learned_nothing(_as_cut(pretrain, rules))
            if len(stage1) < rules.nothing_epochs:
                continue
            counts["stage1_folds"] += 1
            change = ADAM_FACTOR * trial.params["lr_stage1"] * sum(r.train_batches for r in stage1)
            if change > rules.still_weights:
                continue
            counts["weights_still"] += 1
            counts["also_predictions_still"] += rules.still(stage1)
            if all(r.val_qwk <= r.baseline_qwk + rules.nothing_margin for r in stage1):
                flagged = True
        if flagged:
            still_and_no_better.append(
                {"trial": trial.number, "final": trial.value, "at_or_above_median": trial.value >= median}
            )
    return {
        **counts,
        "median": median,
        "trials_with_a_still_fold_at_or_below_the_rf": len(still_and_no_better),
        "of_them_at_or_above_the_median": sum(t["at_or_above_median"] for t in still_and_no_better),
    }


def _as_cut(pretrain: list, rules: DegeneracyRules) -> list:
    """The pre-training's epochs up to where a rule would end the stage live."""
    for i in range(len(pretrain)):
        if rules.check(pretrain[: i + 1]) is not None:
            return pretrain[: i + 1]
    return pretrain


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rules = DegeneracyRules()
    tables = {seed: table_evidence(RESULTS / f"pruning-v2-curves-seed{seed}.json.gz", rules) for seed in range(10)}
    total = {key: sum(t[key] for t in tables.values()) for key in next(iter(tables.values())) if key != "median"}
    document = {"adam_factor": ADAM_FACTOR, "still_weights": rules.still_weights, "total": total, "tables": tables}
    (RESULTS / "rules-on-tables.json").write_text(json.dumps(document, indent=1) + "\n")
    log.info("%s", json.dumps(total, indent=1))


if __name__ == "__main__":
    main()
