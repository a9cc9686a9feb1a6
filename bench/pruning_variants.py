"""Variants of the ``ours`` pruning strategy, replayed on the recorded curves of both data seeds.

    python bench/pruning_variants.py            # → bench/results/pruning-variants.json

Which part of ``ours`` keeps or loses the best trial, and does tuning it on one seed carry over to the
other? Each variant swaps the :class:`~search.racing.SameStepPruner` settings and turns the fold race
on or off, then replays 200 orderings through the same code as ``dfu-search replay``.
"""

from __future__ import annotations

import time

from _common import REPO, emit, machine

from search.pruners import SameStepPruner, make_pruner
from search.replay import load_recording, run_replay

RESULTS = REPO / "bench" / "results"
FUSION = ("stage1", "stage2")
#: name → (SameStepPruner settings, fold race on)
VARIANTS = {
    "ours (default: same-step from fusion epoch 2, 5 startup trials, fold race)": (
        {"stages": FUSION, "min_epochs": 2, "n_startup_trials": 5}, True),
    "same-step only": ({"stages": FUSION, "min_epochs": 2, "n_startup_trials": 5}, False),
    "tuned on seed 0's first 46 trials: from fusion epoch 1, 4 startup trials, fold race": (
        {"stages": FUSION, "min_epochs": 1, "n_startup_trials": 4}, True),
    "same-step in every stage (pre-training too)": (
        {"stages": ("pretrain", *FUSION), "min_epochs": 2, "n_startup_trials": 5}, True),
}  # fmt: skip


def main() -> None:
    started = time.perf_counter()
    result = {}
    for seed in (0, 1):
        recording = load_recording(RESULTS / f"pruning-curves-seed{seed}.json.gz")
        rows = {}
        for name, (settings, race) in VARIANTS.items():

            def pruner_for(strategy, layout, s=settings):
                return SameStepPruner(layout, **s) if strategy == "ours" else make_pruner(strategy, layout)

            races = ("ours", "forgiving") if race else ("forgiving",)
            document = run_replay(recording, ["median", "ours"], orderings=200, seed=0, pruner_for=pruner_for,
                                  races=races)  # fmt: skip
            row = document["strategies"]["ours"]
            rows[name] = {k: row[k] for k in ("epochs_mean", "speedup_vs_none", "speedup_vs_median",
                                              "p_best_within_001", "epochs_to_within_001")}  # fmt: skip
            print(f"seed {seed} {name[:60]:60s} {row['epochs_mean']:5.0f} epochs, ×{row['speedup_vs_median']:.2f} "
                  f"vs median, best kept {row['p_best_within_001']:.1%}", flush=True)  # fmt: skip
        result[f"seed{seed}"] = {"trials": len(recording.trials), "variants": rows}
    emit({"bench": "pruning-variants", "machine": machine(), "wall_s": round(time.perf_counter() - started, 1),
          "orderings": 200, **result}, RESULTS / "pruning-variants.json")  # fmt: skip


if __name__ == "__main__":
    main()
