"""bench/README's section on the selection estimate (``results/selection*.json``), and the README's block."""

from __future__ import annotations

from _readme_tables import RESULTS, load, table

ARMS = (
    ("selection.json", "the default pruner (near-best)"),
    ("selection-no-pruner.json", "no pruner (`--pruner none`)"),
)


def _arms() -> list[tuple[str, dict]]:
    return [(label, load(name)) for name, label in ARMS if (RESULTS / name).exists()]


def _mean_fold(row: dict) -> float:
    return sum(row["truth_single_fold_models"]) / len(row["truth_single_fold_models"])


def _rows(result: dict) -> list[list]:
    rows = []
    for r in result["studies"]:
        complete = r["trials"].get("COMPLETE", 0)
        tied = ", ".join(f"{n} {share:.0%}" for n, share in r["tied_with_best"].items())
        rows.append([r["data_seed"], f"{complete} of {sum(r['trials'].values())}", f"{r['naive']:.3f}",
                     f"{r['bbc']:.3f} ({r['bbc_low']:.3f}–{r['bbc_high']:.3f})", f"{r['truth']:.3f}",
                     f"{_mean_fold(r):.3f}", tied])  # fmt: skip
    return rows


def _errors(result: dict) -> list[list]:
    summary = result["summary"]
    rows = []
    for against, label in (("truth", "the fold ensemble (`predict`)"), ("single_fold_truth", "one fold's model")):
        for name, estimate in (("naive", "naive best CV QWK"), ("bbc", "BBC-CV")):
            s = summary[against][name]
            rows.append([label, estimate, f"{s['mean_bias']:+.3f}", f"{s['bias_range'][0]:+.3f} to {s['bias_range'][1]:+.3f}",
                         f"{s['mean_absolute_error']:.3f}"])  # fmt: skip
    return rows


def selection() -> str:
    arms = _arms()
    if not arms:
        return ""
    first = arms[0][1]
    parts = [
        f"""## What the chosen configuration scores on new patients

`python bench/selection.py` (`results/selection.json`; `--pruner none` → `results/selection-no-pruner.json`):
{first["settings"]["studies"]} studies, each on its own training folder of one world (`demo-data --fixed-world`,
{first["settings"]["patients"]} patients, seeds 100–{99 + first["settings"]["studies"]}), {first["settings"]["trials"]}
TPE trials as `make demo` runs them (`{" ".join(first["study"])}`, two workers). Each study's best configuration
is trained on its whole folder (`best` → `train --save-models`: the fold ensemble) and scored by `predict` on one
test folder of {first["test_visits"]:,} fresh visits of the same world (seed 999). "One fold's model" is the mean
QWK of the ensemble's fold models applied alone to the test folder: what a single CV value estimates. BBC-CV:
{first["settings"]["bootstraps"]} bootstrap draws of patients over the complete trials' out-of-fold predictions."""
    ]
    for label, result in arms:
        s = result["summary"]
        parts.append(f"""### {label}

{table(["data seed", "complete trials", "naive", "BBC-CV (95 %)", "truth: ensemble", "truth: one fold's model", "chosen in the draws"], _rows(result))}

{table(["truth", "estimate", "mean bias", "range", "mean absolute error"], _errors(result))}

BBC-CV's mean absolute error is {s["truth"]["mae_ratio_bbc_to_naive"]:.2f}× the naive one's against the ensemble
and {s["single_fold_truth"]["mae_ratio_bbc_to_naive"]:.2f}× against one fold's model; its interval covers the
ensemble's truth in {s["covered"]} studies and one fold model's in {s["covered_single_fold_truth"]}.""")
    removed = ", ".join(
        f"{1 - r['summary']['single_fold_truth']['bbc']['mean_bias'] / r['summary']['single_fold_truth']['naive']['mean_bias']:.0%}"
        f" with {label}"
        for label, r in arms
    )
    parts.append(
        f"""The two truths differ by what the CV values never see: `predict` averages the fold models, and on new
patients the average scores higher than its fold models do alone (on average; not always than the best of them).
Both estimates read the out-of-fold predictions, one fold's model per visit, so both estimate one fold's model:
against that, the naive best value is optimistic (the winner's curse) and BBC-CV removes most of its mean bias
({removed}); against the ensemble users deploy, the ensemble's gain cancels much of the naive value's optimism
and BBC-CV is conservative (docs/estimate.md)."""
    )
    return "\n\n".join(parts) + "\n"


def estimate_summary(bench_readme: str = "bench/README.md") -> str:
    """README's one paragraph (block ``selection-estimate``); ``bench_readme``: the link from the document."""
    result = load("selection.json")
    s, n = result["summary"], result["settings"]["studies"]
    single, ensemble = s["single_fold_truth"], s["truth"]
    return (
        f"Measured on {n} studies of one synthetic world, each scored on {result['test_visits']:,} new visits "
        f"([bench]({bench_readme}#what-the-chosen-configuration-scores-on-new-patients)): the naive best value "
        f"overstates one fold model's QWK on new patients by {single['naive']['mean_bias']:+.3f} on average, BBC-CV by "
        f"{single['bbc']['mean_bias']:+.3f}; the saved fold ensemble scores higher than one fold model, so against it "
        f"the naive value is off by {ensemble['naive']['mean_bias']:+.3f} and BBC-CV by {ensemble['bbc']['mean_bias']:+.3f} "
        f"(conservative); its 95 % interval covered the ensemble's truth in {s['covered']}."
    )


_READS = (("ask_cold", "a joining worker's first TPE ask"), ("completed_cold", "the pruner's first snapshot"),
          ("optuna_budget_cold", "Optuna's read of every finished trial"), ("ask_warm", "its next ask"))  # fmt: skip


def oof_read_cost() -> str:
    """docs/estimate.md's table (block ``oof-read-cost``): a worker's reads with and without out-of-fold predictions."""
    without, with_oof = load("scale-study-size-oof-0.json"), load("scale-study-size-oof-890.json")
    rows = []
    for before, after in zip(without["rows"], with_oof["rows"], strict=True):
        for key, label in _READS:
            a, b = before[key]["median_ms"], after[key]["median_ms"]
            rows.append([f"{before['trials']:,}", label, f"{a:,.0f}", f"{b:,.0f}", f"{b / a:.2f}×"])
    return (
        f"`python bench/scale.py study-size --sizes 1000,5000 [--oof-visits {with_oof['oof_visits']}]` (PostgreSQL, "
        f"{without['running']} running trials, median of {without['repeats']}; the two arms in turn, the same "
        "trials, the complete ones with or without 890 visits' predictions):\n\n"
        + table(["finished trials", "read", "without (ms)", "with (ms)", "ratio"], rows)
    )
