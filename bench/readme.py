"""Writes ``bench/README.md``: every table from the JSON in ``bench/results/``, so none can drift from its data.

    python bench/readme.py           # rewrite bench/README.md
    python bench/readme.py --check   # exit 1 if bench/README.md is not what the results give (a test runs this)

The prose around the tables says how each benchmark runs and what was decided from it; the numbers
come from the result files alone.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

from _readme_scale import scale

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
README = BENCH / "README.md"


def _load(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _pct(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{100 * value:.{digits}f} %"


def _relative(command: str) -> str:
    """A recorded command with the checkout's absolute path dropped: the same text from any clone."""
    return re.sub(r"/\S*?/(bench/)", r"\1", command)


def _machine(result: dict) -> str:
    machine = result.get("machine", {})
    return f"{machine.get('cores', '?')} cores {machine.get('cpu', '?')}" + (
        f", GPU {machine['gpus']}" if machine.get("gpus") else ", no GPU"
    )


def calibration() -> str:
    runs = [json.loads(line) for line in (RESULTS / "calibration-runs.jsonl").read_text().splitlines() if line]
    by_key: dict[tuple, dict] = {}
    for run in runs:  # the latest run of each (data, seed, arm) counts
        by_key.setdefault((run["data"], run["seed"]), {})[run["arm"]] = run
    rows = []
    for (data, seed), arms in sorted(by_key.items()):
        meta, fused, degenerate = (arms.get(a, {}).get("qwk") for a in ("metadata", "default", "degenerate"))
        delta = f"{fused - meta:+.3f}" if meta is not None and fused is not None else ""
        show = lambda v: "—" if v is None else f"{v:.3f}"  # noqa: E731
        rows.append([f"{'real metadata + calibrated images' if data == 'real' else 'fully synthetic'}", seed,
                     show(meta), show(fused), delta, show(degenerate)])  # fmt: skip
    return f"""## Demo data, calibrated

`python bench/calibration.py` (`results/calibration-runs.jsonl`): QWK per visit over 3 patient-grouped
folds, one calibrated shot a visit, the trainer's defaults (small CNN, 64 px). The research's figures
on the real images: metadata 0.33–0.39, fusion 0.28 untuned and 0.37 after a 100-trial search; the
default fusion here should beat metadata alone by a few points, as there.

{_table(["data", "seed", "metadata only", "default fusion", "Δ", "`degenerate`"], rows)}
"""


def _epochs_cell(row: dict) -> str:
    """A replay row's mean epochs and, where orderings differ, their p05–p95 range."""
    spread = f" ({row['epochs_p05']:.0f}–{row['epochs_p95']:.0f})" if row["epochs_p95"] > row["epochs_p05"] else ""
    return f"{row['epochs_mean']:.0f}{spread}"


def _false_prunes_cell(row: dict) -> str:
    return _pct(row["false_prune_rate"]) if row["pruned_per_ordering"] else "— (none pruned)"


def _replay_rows(document: dict) -> list[list]:
    rows = []
    named = {"median": "median (stock)", "hyperband": "hyperband (stock)", "wilcoxon": "wilcoxon (per fold)",
             "forgiving": "forgiving (fold race)", "rules": "rules alone", "ours": "**ours**"}  # fmt: skip
    entries = [(named.get(name, name), row) for name, row in document["strategies"].items()]
    entries += [("oracle (knows every final)", document["oracle"])]
    entries += [("oracle from fold 0's first fusion epoch", document["oracle_at_fusion"])]
    for label, row in entries:
        rows.append([label, _epochs_cell(row), f"{row['speedup_vs_none']:.2f}",
                     f"{row['speedup_vs_median']:.2f}" if row.get("speedup_vs_median") else "—",
                     _pct(row["p_best_within_001"]), f"{row['epochs_to_within_001']:.0f}", _false_prunes_cell(row)])  # fmt: skip
    return rows


def _v2_rows(document: dict) -> list[list]:
    """One row per strategy of a replay with the store, the default first, plain Optuna's median and the oracles after."""
    default = document.get("default", "ours")
    named = {"median": "median (stock, with the store)", "hyperband": "hyperband (stock)", "forgiving": "forgiving",
             "rules": "rules alone", "none": "none (with the store)", "wilcoxon": "wilcoxon"}  # fmt: skip
    strategies = document["strategies"]
    order = [default, *(n for n in strategies if n != default)]
    entries = [(f"**{n} (default)**" if n == default else named.get(n, n), strategies[n]) for n in order]
    entries += [("median, no store (plain Optuna)", r) for r in document.get("reference", {}).values()]
    entries += [("oracle (knows every final)", document["oracle"]),
                ("oracle from the first fusion epoch", document["oracle_at_fusion"])]  # fmt: skip
    rows = []
    for label, row in entries:
        rows.append([label, _epochs_cell(row), _pct(row["p_best_within_001"]), _shortfall_cell(row),
                     f"{row['epochs_to_within_001']:.0f}", f"{row.get('sooner_vs_median_no_store', 0):.2f}×",
                     f"{row.get('fewer_epochs_vs_median_no_store', 0):.2f}×", _false_prunes_cell(row)])  # fmt: skip
    return rows


def _shortfall_cell(row: dict) -> str:
    """How far below the best recorded the best found ends: median and 95th percentile over the orderings."""
    return f"{row['shortfall_p50']:.3f} / {row['shortfall_p95']:.3f} ({_pct(row['p_best_within_002'])} within 0.02)"


#: The v2 tables (data seeds), and what each held-out one was held out from.
_V2_SEEDS = (0, 1, 2, 3, 4, 5, 6, 7, 8)
_V2_HELD_OUT = {2: " — held out", 3: " — held out (recorded after the choice on seeds 0–2)",
                4: " — held out (recorded after the choice on seeds 0–3)",
                5: " — held out (recorded after the choice on seeds 0–4)",
                6: " — held out (recorded after the choices on seeds 0–4 and 0–5)",
                7: " — held out (recorded after the choices on seeds 0–4, 0–5 and 0–6)",
                8: " — held out (recorded after the choices on seeds 0–4, 0–5, 0–6 and 0–7)"}  # fmt: skip


#: The live pairs (bench/pruning.py live), newest first: a label for the row, the result file.
_V2_LIVE_RUNS = (("", "pruning-v2-live-seed0.json"),
                 ("2026-12-01, before the rules of 2026-12-02: ", "pruning-v2-live-seed0-2026-12-01.json"))  # fmt: skip


#: What each round chose, and the table recorded after it that checks the choice by the condition stated in
#: bench/pruning_variants.py before that table was read: (seeds chosen on, choice, the check needs no more epochs
#: than stock median with the store too — the first tier's condition — or only ≥ 95 % kept, the second's, and the
#: command's options).
_HELD_OUT_CHECKS = {
    6: ("0–5", "trial mean from fusion epoch 1, 40th percentile of 8 trials reached, 0.02 below the best, no race",
        True, '--only "of 8 trials reached, 0.02 below"'),
    7: ("0–6", "trial mean from fusion epoch 1, 33rd percentile of 8 trials reached, 0.02 below the incumbent, no race",
        False, '--only "0.02 below the"'),
    8: ("0–7", "trial mean from fusion epoch 1, 33rd percentile of 8 trials reached, 0.03 (fold 0) / 0.02 below the "
        "best, no race", False, '--ninth-round --only "below the"'),
}  # fmt: skip


def _held_out_check(seed: int) -> str:
    """A round's choice and ``near-best`` on the table recorded after it (data seed ``seed``), judged by the
    condition stated in bench/pruning_variants.py before that table was read."""
    name = f"pruning-v2-variants-seed{seed}.json"
    if not (RESULTS / name).is_file():
        return ""
    chosen_on, choice, needs_epochs, options = _HELD_OUT_CHECKS[seed]
    document = _load(name)
    rows_seen, default_variant = document[f"seed{seed}"]["variants"], document["default_variant"]
    median = rows_seen["median (stock, with the store)"]

    def passes(row: dict) -> bool:
        return row["p_best_within_001"] >= 0.95 and (not needs_epochs or row["epochs_mean"] <= median["epochs_mean"])

    rows = []
    labels = [(f"chosen on seeds {chosen_on}", choice)]
    if choice != default_variant:
        labels.append(("`near-best`", default_variant))
    for label, variant in labels:
        row = rows_seen[variant]
        rows.append([label, f"{row['epochs_mean']:.0f}", _pct(row["p_best_within_001"]),
                     f"{row['epochs_to_within_001']:.0f}", f"{row['sooner_vs_median_no_store']:.2f}×",
                     "yes" if passes(row) else "no"])  # fmt: skip
    rows.append(["stock median with the store", f"{median['epochs_mean']:.0f}", _pct(median["p_best_within_001"]),
                 f"{median['epochs_to_within_001']:.0f}", f"{median['sooner_vs_median_no_store']:.2f}×", "—"])  # fmt: skip
    condition = "keeps the best in ≥ 95 % of orderings there" + (
        " and needs no more epochs than stock median with the store" if needs_epochs else ""
    )
    if choice == default_variant:
        outcome = "It did, and it is `near-best` now."
    else:
        outcome = (
            "It did, but is not the default yet."
            if passes(rows_seen[choice])
            else "It does not, and `near-best` stays."
        )
    column = "≥ 95 % kept" + (", ≤ median's epochs" if needs_epochs else "")
    return (
        f"The check on data seed {seed} of the choice on seeds {chosen_on} (`python bench/pruning_variants.py --seeds "
        f"{seed} {options} --out bench/results/{name}`): the choice replaces `near-best` only if it {condition}. "
        f"{outcome}\n\n"
        + _table(["variant", "epochs", "best kept", "epochs to within 0.01", "sooner than plain Optuna", column], rows)
        + "\n"
    )  # fmt: skip


def _variants_table(document: dict, label=lambda name: name, skip: tuple[str, ...] = ()) -> str:
    """A bench/pruning_variants.py result as one table: a row per variant (``label`` names it), a column per table."""
    seeds = document["seeds"]
    rows = [[label(name), *(_variant_cell(document[f"seed{s}"]["variants"].get(name)) for s in seeds)]
            for name in document[f"seed{seeds[0]}"]["variants"] if name not in skip]  # fmt: skip
    return _table(["variant", *(f"data seed {s}" for s in seeds)], rows) + "\n"


def _ninth_round() -> str:
    """``near-best`` against the ninth round's variants on every table recorded so far, under today's rules."""
    if not (RESULTS / "pruning-v2-variants-ninth.json").is_file():
        return ""
    ninth = _load("pruning-v2-variants-ninth.json")
    seeds, default = ninth["seeds"], ninth["default_variant"]

    def label(name: str) -> str:
        return (f"**{name}**" if name == ninth["chosen"] else name) + (" (`near-best`)" if name == default else "")

    return (
        f"The ninth round (`python bench/pruning_variants.py --ninth-round --seeds {','.join(map(str, seeds))} "
        "--reuse bench/results/pruning-v2-variants.json bench/results/pruning-v2-variants-seed7.json --jobs 2 "
        "--out bench/results/pruning-v2-variants-ninth.json`): `near-best` and variants with a wider margin below "
        f"the best in fold 0, by the same rule; chosen: **{ninth['chosen']}** ({ninth['chosen_because']})"
        + ("; `near-best` stays." if ninth["chosen"] == default else
           f"; it becomes the default only if data seed {max(seeds) + 1} confirms it.")
        + "\n\n" + _variants_table(ninth, label, skip=("none (with the store)", "oracle", "oracle at fusion"))
        + "\n" + _held_out_check(max(seeds) + 1)  # the table recorded after this round checks its choice
    )  # fmt: skip


def _variant_cell(row: dict | None) -> str:
    if row is None:  # bench/pruning_variants.py does not replay a variant already unsafe on another table
        return "— (not replayed: < 95 % kept on another table)"
    return f"{row['epochs_mean']:.0f} epochs, {_pct(row['p_best_within_001'])} kept, {row['epochs_to_within_001']:.0f} to 0.01"


def pruning_v2() -> str:
    seeds = [seed for seed in _V2_SEEDS if (RESULTS / f"pruning-v2-replay-seed{seed}.json").is_file()]
    if not seeds:
        return ""
    parts = [
        """## Pruning, replayed on the trainer users run (v2)

Recorded as below (v1), on the trainer with the pre-training store and the learning fusion weight, and
the default space's `lr_pretrain` on its three values: `python bench/pruning.py record --table v2
--data-seed S --trials 64`. Replayed with the store (a pre-training an earlier trial of the ordering
finished costs nothing, its epochs still reported); "plain Optuna" is stock median without the store.
Data seeds 0 and 1 chose the default (`python bench/pruning_variants.py`, the rule in its docstring,
stated before seed 2 was recorded); data seed 2 is **held out**: the chosen default replayed without
re-tuning. Then, the default having missed the goal against plain Optuna on seeds 0 and 2, variants
with a percentile per fold were added and the same rule applied to seeds 0–2, stated before data seed 3
was recorded: seed 3 is **held out** from that choice. Then variants with fewer startup trials (2–4
complete trials before the first prune, not 5) were added and the rule applied to seeds 0–3, stated
before data seed 4 was recorded: seed 4 is **held out** from that choice. Then variants judged against
every trial that reached the epoch (pruned ones too) and against the best completed trial less a margin
were added and the rule applied to seeds 0–4, stated before data seed 5 was read: seed 5 is **held out**
from that choice, which made `near-best` the default (`running-mean` is the default before it). Then
variants that start the percentile sooner, take a higher one, or a narrower margin were added and the rule
applied to seeds 0–5, stated before data seed 6 was recorded: seed 6 is **held out** from that choice and
from `near-best`'s, and the choice did not pass there (below the variants). Then variants measuring the
margin below the best from the incumbent's value at the step were added and the rule applied to seeds 0–6,
stated before data seed 7 was recorded: seed 7 is **held out** from that choice, which did not pass there
either. Then variants with a wider margin below the best in fold 0 were added and the rule applied to
`near-best` and them alone on seeds 0–7 (the ninth round, below), stated before data seed 8 was recorded:
seed 8 is **held out** from that choice, which did not pass there either — its best trial is a slow starter
that every pruner judging the first fusion epochs stops, stock median too.
Every table below is replayed with the default, `near-best`, and the degeneracy rules of 2026-12-02 (a
collapsed fused stage 1 ends the trial in the first fold only); the variants of rounds one to eight were
replayed before that change.
"""
    ]
    for seed in seeds:
        document = _load(f"pruning-v2-replay-seed{seed}.json")
        held = _V2_HELD_OUT.get(seed, "")
        parts.append(
            f"Data seed {seed}{held}: {document['trials']} trials, best {document['best_recorded']:.3f}, median "
            f"{document['median_recorded']:.3f}, {document['epochs_all']:.0f} epochs unpruned without the store "
            f"(best QWK so far against epochs: [anytime.png](results/pruning-v2-seed{seed}/anytime.png)):\n\n"
            + _table(["strategy", "epochs, mean (p05–p95)", "best within 0.01", "best found below the best: median / p95",
                      "epochs to within 0.01", "sooner than plain Optuna", "fewer epochs than plain Optuna",
                      "false prunes"], _v2_rows(document))
            + "\n"
        )  # fmt: skip
    if (RESULTS / "pruning-v2-variants.json").is_file():
        variants = _load("pruning-v2-variants.json")
        parts.append(
            f"Variants (`python bench/pruning_variants.py`, seeds {variants['seeds']}); chosen by the rule: "
            f"**{variants['chosen']}** ({variants.get('chosen_because', 'the first tier')}); "
            + ("`near-best` is this variant." if variants["chosen"] == variants["default_variant"] else
               f"`near-best` (the default) is *{variants['default_variant']}*; the chosen one becomes the default only if "
               f"a table recorded after the choice (data seed {max(variants['seeds']) + 1}) confirms it.")
            + "\n\n" + _variants_table(variants)
        )  # fmt: skip
        # the checks of the rounds this file holds: each by the table recorded after them (the ninth round's below)
        checked = (seed for seed in _HELD_OUT_CHECKS if seed <= max(variants["seeds"]) + 1)
        parts.extend(filter(None, map(_held_out_check, checked)))
    parts.append(_ninth_round())
    signals = [(s, _load(f"pruning-v2-signal-seed{s}.json")) for s in _V2_SEEDS
               if (RESULTS / f"pruning-v2-signal-seed{s}.json").is_file()]  # fmt: skip
    if signals:
        rows = []
        for seed, signal in signals:
            stage1 = {r["epoch"]: r["spearman"] for r in signal["fold0_best_so_far_vs_final"] if r["stage"] == "stage1"}
            knobs = signal["knob_vs_final"]
            rows.append([seed, f"{stage1.get(1, float('nan')):+.2f}", f"{stage1.get(5, float('nan')):+.2f}",
                         *(f"{knobs[k]:+.2f}" for k in ("fusion_init", "lr_stage1", "lr_stage2", "lr_pretrain", "alpha_cap"))])  # fmt: skip
        parts.append(
            "What the v2 reports and knobs say about the final (`python bench/pruning.py signal --table v2`, Spearman ρ "
            "over the recorded trials; v1 below: `fusion_init` +0.92, first fusion epoch +0.81 / +0.87):\n\n"
            + _table(["seed", "fold 0 stage 1, epoch 1", "epoch 5", "`fusion_init`", "`lr_stage1`", "`lr_stage2`",
                      "`lr_pretrain`", "`alpha_cap`"], rows) + "\n"
        )  # fmt: skip
    live_runs = [(when, _load(name)) for when, name in _V2_LIVE_RUNS if (RESULTS / name).is_file()]
    if live_runs:
        document = live_runs[0][1]
        rows = [[when + (f"{arm} (`{r['pruner']}`)" if r.get("pruner") and r["pruner"] not in arm else arm),
                 f"{r['trials']} ({r['pruned']})", r["epochs"], f"{r['cpu_s']:.0f}", f"{r['wall_s']:.0f}",
                 f"{r['best_qwk']:.3f}", (r.get("degenerate") or {}).get("epochs_trained", "—"),
                 ((r.get("degenerate") or {}).get("prune_reason") or {}).get("rule", "completed")]
                for when, run in live_runs for arm, r in run["live"].items()]  # fmt: skip
        parts.append(
            "Live, one study after the other on data seed 0 (`python bench/pruning.py live --table v2 --trials 20`), "
            "TPE seeded the same, `degenerate` enqueued, each arm from a cold store; two workers make the order of "
            "trials, and so the configs TPE draws, differ from run to run — the earlier pair shows how much one pair "
            "varies:\n\n"
            + _table(["arm", "trials (pruned)", "epochs", "CPU s", "wall s", "best QWK", "degenerate: epochs",
                      "degenerate: ended by"], rows) + "\n"
            + (f"\n({document['machine_note']}.)\n" if "machine_note" in document else "")
        )  # fmt: skip
    return "\n".join(parts)


def pruning() -> str:
    parts = [
        """## Pruning, replayed (v1: before the pre-training store)

Whole curves are recorded once (`python bench/pruning.py record --data-seed S`: `dfu-search launch
--pruner none --no-rules --sampler random` on the real metadata's 890 visits with one calibrated shot
each, quick preset at 32 px, 3 folds) and replayed through every strategy over 200 orderings
(`python bench/pruning.py replay --data-seed S`, i.e. `dfu-search replay`). The `oracle` knows every
final value and stops a loser after one epoch; the second oracle may stop a trial only at its first
fusion epoch, the limit for a pruner that waits for an informative report (see the signal table).
"""
    ]
    for seed in (0, 1):
        document = _load(f"pruning-replay-seed{seed}.json")
        parts.append(
            f"Data seed {seed} — {document['trials']} trials, best {document['best_recorded']:.3f}, median "
            f"{document['median_recorded']:.3f}, {document['epochs_all']:.0f} epochs unpruned "
            f"(`{_relative(document['command'].split(' --out')[0])}`):\n\n"
            + _table(
                [
                    "strategy",
                    "epochs, mean (p05–p95)",
                    "× vs none",
                    "× vs median",
                    "best within 0.01",
                    "epochs to within 0.01",
                    "false prunes",
                ],
                _replay_rows(document),
            )  # fmt: skip
            + "\n"
        )
    signal_rows = []
    for seed in (0, 1):
        signal = _load(f"pruning-signal-seed{seed}.json")
        curve = signal["fold0_best_so_far_vs_final"]
        pretrain = [r["spearman"] for r in curve if r["stage"] == "pretrain"]
        stage1 = {r["epoch"]: r["spearman"] for r in curve if r["stage"] == "stage1"}
        knobs = signal["knob_vs_final"]
        signal_rows.append([seed, f"{min(pretrain):+.2f} … {max(pretrain):+.2f}", f"{stage1.get(1, float('nan')):+.2f}",
                            f"{stage1.get(5, float('nan')):+.2f}",
                            *(f"{knobs[k]:+.2f}" for k in ("fusion_init", "lr_stage1", "lr_pretrain", "alpha_cap"))])  # fmt: skip
    parts.append(
        "Which reports say anything about the final value (`python bench/pruning.py signal`: Spearman ρ over "
        "the recorded trials between the final mean-fold QWK and fold 0's best QWK so far, or a knob):\n\n"
        + _table(
            [
                "seed",
                "pre-training, min … max",
                "stage 1, epoch 1",
                "stage 1, epoch 5",
                "`fusion_init`",
                "`lr_stage1`",
                "`lr_pretrain`",
                "`alpha_cap`",
            ],
            signal_rows,
        )  # fmt: skip
        + "\n"
    )
    variants = _load("pruning-variants.json")
    variant_rows = []
    for name in variants["seed0"]["variants"]:
        cells = [name]
        for seed in ("seed0", "seed1"):
            row = variants[seed]["variants"][name]
            cells.append(f"{row['epochs_mean']:.0f}, ×{row['speedup_vs_median']:.2f}, {_pct(row['p_best_within_001'])}")
        variant_rows.append(cells)
    parts.append(
        "Parts of `ours` replayed separately (`python bench/pruning_variants.py`): epochs, × vs stock median, best "
        "kept within 0.01:\n\n" + _table(["variant", "data seed 0", "data seed 1"], variant_rows) + "\n"
    )
    live = _load("pruning-live-seed0.json")["live"]
    live_rows = [[f"`{arm}`", f"{r['trials']} ({r['pruned']})", r["epochs"], f"{r['cpu_s']:.0f}", f"{r['wall_s']:.0f}",
                  f"{r['best_qwk']:.3f}"] for arm, r in live.items()]  # fmt: skip
    parts.append(
        "Live, one study after the other (`python bench/pruning.py live --data-seed 0`, random sampler so both arms "
        "see the same configs):\n\n"
        + _table(["arm", "trials (pruned)", "epochs", "CPU s", "wall s", "best QWK"], live_rows)
        + """

What was decided then (v1): the default stayed `ours` until a variant won on both tables; the fold race is what
loses the best trial (the same-step comparison alone keeps it), and every trial pays fold 0's
uninformative pre-training before its first useful report, which caps what any pruner can save here.
`wilcoxon` can never prune with 3 folds: its smallest p-value, 2⁻³ = 0.125, is above 0.1.
"""
    )
    return "\n".join(parts)


def overhead() -> str:
    result = _load("overhead-quick.json")
    rows: dict[str, dict[int, float]] = {}
    for row in result["storage"]:
        rows.setdefault(row["strategy"], {})[row["workers"]] = row["median_ms"]
    workers = sorted({w for per in rows.values() for w in per})
    table = _table(["PostgreSQL, ms per trial (median)", *(f"{w} worker{'s' if w > 1 else ''}" for w in workers)],
                   [[f"`{s}`", *(f"{per.get(w, float('nan')):.0f}" for w in workers)] for s, per in rows.items()])  # fmt: skip
    return f"""## What a trial costs outside training

`python bench/overhead.py --quick --storages postgresql --workers {",".join(map(str, workers))} --strategies
{",".join(rows)}` (`results/overhead-quick.json`, {_machine(result)}): a trivially short objective making
a real trial's storage calls ({result["reports_per_trial"]} reports, the pruner's reads, attributes,
tell) against a real PostgreSQL server; the arms one after the other.

{table}

Storage share of one quick trial ({result["quick_trial_s"]:.1f} s here) at {result["postgres_most_workers"]} workers:
{_pct(result["storage_share_of_quick_trial"])}; everything outside training
{_pct(result["outside_training_share_of_quick_trial"])}. The workers share two cores here, so the
many-worker figure measures CPU contention as much as the database. Once per worker or fold: study
load {result["study_load_s"]} s, TensorFlow import {result["tensorflow_import_s"]} s, image cache load
{result["cache_load_s"]} s, model build {result["model_build_s"]} s.
"""


def pretrain_store() -> str:
    if not (RESULTS / "pretrain-store.json").is_file():
        return ""
    result = _load("pretrain-store.json")
    parts = [
        """## The pre-training store

`python bench/pretrain_store.py` (`results/pretrain-store.json`).
"""
    ]
    pair = result.get("pair")
    if pair:
        rows = [[arm, r["trials"], r["pruned"], r["epochs"], r.get("cached_epochs", "—"), f"{r['cpu_s']:.0f}",
                 f"{r['wall_s']:.0f}", f"{r['best_qwk']:.3f}"] for arm, r in pair["arms"].items()]  # fmt: skip
        store = pair["arms"]["store"]
        parts.append(
            f"A live pair, one study after the other: calibrated data from the real metadata (data seed 0, one shot), "
            f"quick preset, 3 folds, TPE seeded the same, {result['workers']} workers, {result['trials']} trials, the "
            "default pruner; the image and RF caches built before either arm.\n\n"
            + _table(["arm", "trials", "pruned", "epochs trained", "epochs from the store", "CPU s", "wall s",
                      "best QWK"], rows)
            + f"\n\nWith the store: {pair['epochs_ratio']}× fewer epochs, {pair['cpu_ratio']}× less CPU, "
            f"{pair['wall_ratio']}× less wall time; {store['misses']} pre-trainings trained and stored (misses), "
            f"{store['hits']} loaded (hits).\n"
        )  # fmt: skip
    rows = [[e["case"], ", ".join(f"{mb:.2f}" for mb in e["entry_mb"]), ", ".join(f"{t:.2f}" for t in e["hit_load_s"]),
             e["cold_run_s"], e["warm_run_s"]] for e in result.get("entries", [])]  # fmt: skip
    if rows:
        parts.append(
            "An entry (one fold's pre-trained branches and the stage's reports) and a hit, for two backbones (one "
            "pre-training epoch on 2 folds of a 120-visit demo folder, then the same run again):\n\n"
            + _table(["backbone@px", "entry MB", "hit: load s", "cold run s", "warm run s"], rows) + "\n"
        )  # fmt: skip
    return "\n".join(parts)


def fusion_weight() -> str:
    result = _load("fusion-weight.json")
    rows = []
    for run in result["runs"]:
        weights = " / ".join(f"{f['final']:.3f}" for f in run["folds"])
        rows.append([f"{run['scale']:g}", run["init"], weights, f"{run['qwk']:.3f}", f"{run['metadata_qwk']:.3f}"])
    return f"""## The fusion weight

`python bench/fusion_weight.py` (`results/fusion-weight.json`): `dfu-search train` on the calibrated data
from the real metadata (data seed 0, one shot), quick preset, 3 folds, seed 0, from `fusion_init` 0.4 and
0.9 at each `fusion_lr_scale`; the RF weight each fold ends at, and the QWK. Scale 1 is the weight as it
was: a logit trained at the stage's learning rate, which Adam moves by about one learning rate a step.

{_table(["fusion_lr_scale", "fusion_init", "final weight per fold", "QWK", "metadata alone"], rows)}

Decided: `fusion_lr_scale = 100`, the smallest scale tried at which the two starts end at most half as far
apart as they began, and their QWKs agree; the weight now learns what the data say instead of what
`fusion_init` said.
"""


def augment() -> str:
    result = _load("augment.json")
    levels = result["levels"]
    show = lambda r: f"{r['median']:.3f} ({r['range'][0]:.3f}–{r['range'][1]:.3f})"  # noqa: E731
    rows = [
        [level, show(r["qwk"]), show(r["pretrain_qwk"]), f"{r['seconds']['median']:.0f}"] for level, r in levels.items()
    ]
    return f"""## Augmentation

`python bench/augment.py` (`results/augment.json`): quick preset at {result["settings"]["image_size"]} px,
{result["settings"]["folds"]} patient-grouped folds on the calibrated data (890 visits, 1 shot), data and
trainer seeds {", ".join(map(str, result["seeds"]))}, only `augment` changed; median (range):

{_table(["augment", "fused QWK", "image-only QWK (pre-training)", "seconds a run"], rows)}

Decided: the default stays `augment = "none"`. With 8 pre-training epochs augmentation makes the image
task harder without time to pay off, the fusion stays within its seed spread, and a run costs more.
"""


def _throughput_rows(result: dict) -> list[list]:
    rows = []
    for r in result["throughput"]:
        full = _pct(r["overhead_full_speed"]) if "overhead_full_speed" in r else "—"
        rng = r.get("overhead_cpu_range", [r.get("overhead_cpu")] * 2)
        cpu = f"**{_pct(r['overhead_cpu'])}**" + (
            f" ({100 * rng[0]:.1f}–{100 * rng[1]:.1f})" if rng[0] != rng[1] else ""
        )
        rows.append([r["case"], cpu, full, _pct(r["overhead"]), _pct(r.get("validation_share")),
                     f"{r['bare_epoch_cpu_s']:.2f}"])  # fmt: skip
    return rows


def trainer() -> str:
    goal, extra = _load("trainer-goal.json"), _load("trainer-extra.json")
    header = ["case", "overhead, CPU s", "wall, full-speed epochs", "wall, all epochs", "validation forward pass",
              "bare epoch, CPU s"]  # fmt: skip
    return f"""## Training throughput

`python bench/trainer.py --quick` (`results/trainer-goal.json`, {_machine(goal)}): two copies of the
fusion model on the same random rows ({goal["rows"]} training, {goal["val_rows"]} validation, batch
{goal["batch"]}, {goal["epochs"]} epochs, the first not counted), one trained through the trainer's stage
(validation every epoch, running QWK, best-weight copies, the hook), one by a bare `model.fit`; each one
long `fit` in its own thread, the two taking strict turns. Overhead = `1 − bare / trainer` over the
counted epochs, median of the runs (range). The goal is ≤ 10 %; the validation forward pass is the
part no trainer that validates every epoch can skip.

{_table(header, _throughput_rows(goal))}

This machine's wall time is noisy (the host sometimes slows the whole VM for the same CPU seconds), so
CPU seconds and the epochs that ran at full speed carry the comparison; on a GPU only wall time counts
(`bench/gpu.sh`). `python bench/trainer.py --extra --epochs 6` (`results/trainer-extra.json`):

{_table(header, _throughput_rows(extra))}

Decided: on a CPU keep `precision = "float32"` for EfficientNet (`mixed` means bfloat16 here and costs
it more than it saves) and leave `jit_compile` and `deterministic` at `auto`.
"""


def gpu() -> str:
    runs = sorted(RESULTS.glob("gpu-*.json"))
    if not runs:
        return ""
    latest = json.loads(runs[-1].read_text())
    env = latest.get("environment", {})
    parts = [
        f"""## GPU

`bench/gpu.sh --wheels .gpu-wheels` (after `make gpu-wheels`) measures the GPU path in one command
within a time budget: `bench/trainer.py` per backbone and precision on the JAX backend, and a live
study of two workers sharing the GPU. Run `make gpu-dry-run` (the same steps at tiny sizes on the CPU, ~3 min; also
in `make test-all`) before a device run: a script that breaks there wastes the loan. Latest: `results/{runs[-1].name}` — {env.get("gpu", "?")}, driver
{env.get("driver", "?")}, CUDA {env.get("cuda", "?")}, jax {env.get("versions", {}).get("jax", "?")}, keras
{env.get("versions", {}).get("keras", "?")}, `XLA_FLAGS={(latest.get("settings") or {}).get("XLA_FLAGS")}`.
"""
    ]
    cases = [c for run in runs for c in json.loads(run.read_text()).get("cases", [])]
    measured = [c for c in cases if "error" not in c]
    if measured:
        rows = [[c["spec"], c["batch"], c["jit_compile"], c["bare_images_s"], c["trainer_images_s"], _pct(c["overhead"]),
                 f"{(c.get('gpu_memory') or {}).get('peak_bytes', 0) / 2**30:.2f}"] for c in measured]  # fmt: skip
        parts.append(_table(["case", "batch", "XLA", "bare fit images/s", "trainer images/s", "trainer overhead, wall",
                             "peak GPU GiB"], rows))  # fmt: skip
    failed = [c for c in cases if "error" in c]
    if failed:
        parts.append(
            f"Throughput cases not measured yet: {len(failed)} runs ended by their deadline "
            f"({', '.join(sorted({c['spec'] for c in failed}))}). In the second run the trainer arm's first "
            "epoch (tracing and compiling EfficientNetB0's training step on JAX, XLA autotuning off) took "
            "41–44 s, so one case with two arms needs ~100 s: the script now compiles every case side by "
            "side and times them one at a time."
        )
    study = next((json.loads(run.read_text()).get("study") for run in reversed(runs)
                  if "trial_seconds" in (json.loads(run.read_text()).get("study") or {})), None)  # fmt: skip
    if study:
        memory = ", ".join(f"{mib} MiB" for mib in study["gpu_memory_mib_per_worker"].values())
        parts.append(
            f"Live study: {study['workers']} workers on one GPU (`--workers-per-gpu {study['workers']}`), "
            f"{sum(study['trial_states'].values())} trials of the quick preset ({study['folds']} folds, "
            f"{study['patients']}-patient demo data): {study['trial_seconds_median']} s a trial (median; "
            f"{min(study['trial_seconds'])}–{max(study['trial_seconds'])}), {study['wall_s']} s in all; GPU memory "
            f"per worker {memory}; GPU utilisation {study['gpu_utilization_mean']} % mean, "
            f"{study['gpu_utilization_max']} % peak; both workers computed on the GPU: "
            f"{'yes' if study['both_workers_on_gpu'] else 'no'}. The quick preset (32 px, small CNN) is far too "
            "small to load an H200: a trial is mostly Python, compiling and the storage."
        )
    return "\n\n".join(parts) + "\n"


SECTIONS: tuple[Callable[[], str], ...] = (
    calibration,
    fusion_weight,
    pretrain_store,
    pruning_v2,
    pruning,
    overhead,
    scale,
    augment,
    trainer,
    gpu,
)


def render() -> str:
    head = """# Benchmarks

Generated by `python bench/readme.py` from `bench/results/` — do not edit by hand; a test fails when
this file and the results disagree. Each script ends with one JSON line (also written with `--out`);
the real metadata is read from `../shared/data` (`$DFU_SHARED_DATA`) and demo images are drawn for its
visits under `bench/.work/`. Unless a section says otherwise, the machine is the development VM:
2 cores, 24 GiB, no GPU.
"""
    return head + "\n" + "\n".join(text for text in (section() for section in SECTIONS) if text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 if bench/README.md differs from the results")
    args = parser.parse_args()
    text = render()
    if args.check:
        if not README.is_file() or README.read_text() != text:
            sys.exit("bench/README.md is stale: run python bench/readme.py")
        return
    README.write_text(text)
    print(f"wrote {README} ({len(text)} bytes)")


if __name__ == "__main__":
    main()
