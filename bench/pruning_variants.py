"""Variants of the ``ours`` strategy replayed on recorded curves: which default to choose, by a rule fixed in advance.

    python bench/pruning_variants.py                       # v2 tables, data seeds 0 and 1 → pruning-v2-variants.json
    python bench/pruning_variants.py --table v1 --seeds 0,1  # the recordings before the store (pruning-variants.json)
    python bench/pruning_variants.py --seeds 0,1,2 --reuse bench/results/pruning-v2-variants.json --jobs 2
    python bench/pruning_variants.py --round 10 --seeds 0,1,2,3,4,5,6,7,8 --jobs 2  # near-best and the round's candidates

Each variant sets the :class:`~search.pruners.SameStepPruner` (from which fusion epoch, after how many
complete trials), the fold race (off, or on with a margin) and the degeneracy rules, then replays the
same 200 orderings through the code of ``dfu-search replay`` — with the pre-training store, and stock
median with and without it beside them.

**The rule that picks the default** (stated before the third table is recorded): among the variants
that keep a trial within 0.01 of the best in ≥ 95 % of orderings on *both* tables and need no more
epochs in all than stock median with the store, the one with the fewest mean epochs to within 0.01 of
the best, summed over the two tables. If no variant is that good (added after seed 0 showed none
was, before seeds 1 and 2 were recorded): drop the epochs condition and take, among the variants safe
on both tables, the fewest summed epochs to within 0.01; if none is safe on both, the variant whose
worse table keeps the best most often. The third table (data seed 2) then checks it without re-tuning.

**A fourth table** (stated 2026-12-01, while data seed 3 was being recorded and before anything of it was
read): the chosen default missed the issue's goal against plain Optuna on seeds 0 and 2 (≥ 2× sooner to
within 0.01, ≥ 1.5× fewer epochs), so variants whose percentile rises with the folds the running mean holds
(``percentile`` per fold) were added, and the same rule is applied to the three tables seen (``--seeds
0,1,2``). Seed 3 then checks what it chooses — the same default or a new one — without re-tuning.

**A fifth table** (stated 2026-12-01, before data seed 4 was recorded): the default still missed the goal on
seeds 0, 2 and 3, and every ordering pays five complete trials before its first prune, so variants with
fewer startup trials (4, 3, 2; with the 33rd or 25th percentile) were added; the same rule is applied to the
four tables seen (``--seeds 0,1,2,3``), and seed 4 checks what it chooses without re-tuning.

**A sixth table** (stated 2026-12-01, while data seed 5 was being recorded and before anything of it was read):
the default still missed ≥ 2× sooner on seeds 0, 2, 3 and 4. Two things held it back, found on seeds 0-4 with a
quick stand-alone simulation of this replay: on tables with many near-best trials (7-9 of 64 on seeds 2-4) the
best arrives around the seventh trial, so the five startup trials that run whole are most of the epochs to it;
and a percentile over *completed* trials ratchets — each prune takes a weak trial out of the trials that complete,
so the percentile climbs with the pruning (on seed 1 any faster rule lost the best in 5-14 % of orderings). So
variants were added that judge against every trial that reached the epoch, pruned ones too (``reference=
"reached"``), and stop a trial more than a margin below the best completed trial's value at the same epoch from
the first completed trial on (``best_margin``). The same rule is applied to the five tables seen (``--seeds
0,1,2,3,4``), and seed 5 checks what it chooses without re-tuning.

**A seventh table** (stated 2026-12-01, before data seed 6 was recorded): the default (``near-best``) met the
goal against plain Optuna on seeds 0, 1, 3 and 4 but was 1.93× and 1.97× sooner on seeds 2 and 5 (goal 2×).
Before the eighth reached trial only the margin below the best prunes, and on tables whose best arrives around
the seventh trial those first trials are most of the epochs to it; so variants were added that start the
percentile after six reached trials, take the 40th percentile, or a 0.015 margin. The same rule is applied to
the six tables seen (``--seeds 0,1,2,3,4,5``); seed 6 then checks what it chooses — and ``near-best``, fixed
before seed 6 — without re-tuning. (Stated 2026-12-01 23:10, after the choice on seeds 0-5 and while seed 6 was
recording, before anything of it was read:) the choice replaces ``near-best`` as the default only if on seed 6
it keeps the best in ≥ 95 % of orderings and needs no more epochs than stock median with the store — the
conditions of the rule's first tier, which chose it; otherwise ``near-best`` stays.

**An eighth table** (stated 2026-12-02, after seed 6 was read and before data seed 7 is recorded): on seed 6 the
seventh round's choice failed that check and ``near-best`` stays, but both lost the best in 11-12.5 % of
orderings. In the orderings ``near-best`` lost, 136 of the 154 prunes of a trial within 0.01 of the best were
its test against the best, most in fold 0's stage 1: the highest of the completed trials' values at a step is
set by a trial with a lucky start (0.494-0.497 there, for finals below the best), and it climbs with every trial
that completes. So variants measure the margin from the incumbent's value at the same step (``best=
"incumbent"``: the completed trial with the best final value). The same rule is applied to the seven tables
seen (``--seeds 0,1,2,3,4,5,6``); seed 7 then checks what it chooses without re-tuning.
(Stated 2026-12-02 01:25, after the choice on seeds 0-6 — ``0.02 below the incumbent``, from the rule's second
tier — and before data seed 7 is recorded:) the choice replaces ``near-best`` as the default only if on seed 7 it
keeps the best in ≥ 95 % of orderings, the condition of the tier that chose it; otherwise ``near-best`` stays.
It did not (68.5 %), and ``near-best`` stays.

**A ninth table** (stated 2026-12-02, after seed 7 was read and before data seed 8 is recorded): seed 7 is flat —
its ten best finals lie within 0.013, six trials within 0.01 of the best, and fold 0's first fusion epoch says
less of the final than on any table before (ρ +0.38) — and every pruner lost the best there often: ``near-best``
kept it in 51 % of orderings, stock median (with or without the store) in 67.5 %. In the orderings ``near-best``
lost, 580 of the 588 prunes of a trial within 0.01 of the best were its test against the best, at fold 0's stage 1
(estimates 0.39-0.40 against a bar of 0.406): one fold's early QWK is noisier than a mean over finished folds, and
0.02 is inside that noise. So variants take a wider margin in fold 0 and 0.02 after it (``best_margin`` per fold),
from the highest value at the step or the incumbent's. This round compares ``near-best`` and these variants only
(``--ninth-round``), all replayed with the degeneracy rules of 2026-12-02 (a broken fused stage 1 ends the trial in
the first fold only; the earlier rounds' rows were replayed before that change), by the same rule on the eight
tables seen (``--seeds 0,1,2,3,4,5,6,7``); seed 8 then checks what it chooses without re-tuning: it replaces
``near-best`` only if on seed 8 it meets the condition of the tier that chose it (first tier: ≥ 95 % kept and no
more epochs than stock median with the store; second: ≥ 95 % kept; third: it keeps the best at least as often
as ``near-best`` on seed 8). (Erratum, later on 2026-12-02: seed 2's ρ at that epoch, +0.33, is lower than seed 7's;
"less than on any table before" is wrong, the rest stands.) (Later on 2026-12-02, after this round ran: ``images_add_nothing`` and ``nan_loss``
end the trial in any fold again, only ``collapsed`` and ``kappa_nonpositive`` in the first; no recorded trial of
the eight tables meets either rule, so no row here changes.) It did not pass on seed 8 (recorded 2026-12-02,
``--seeds 8 --ninth-round --only "below the"``): 4 % of orderings kept the best, as with ``near-best``; stock median
10.5 %. Seed 8's best (0.429) stands alone, 0.011 above the next, and is a slow starter (``lr_stage1`` 7e-5: its fold
0 opens at 0.245, 14th lowest of 65, and fine-tuning lifts it), which any test of the first fusion epochs stops.
``near-best`` stays.

**A tenth table** (recorded 2026-12-02, before any tenth round was designed, and not read: the replay the record
command writes was deleted unopened, and nothing else ran on it): data seed 9 waits for the next round, whose rule
and check are to be stated here and committed before anything of seed 9 is replayed.

**The tenth round** (stated 2026-12-02, before anything of data seed 9 is replayed): the tiered rule above cannot
choose on seeds 0-8 — no pruner measured that judges the first fusion epochs keeps seed 8's lone slow starter, so
its first two tiers are empty and the third picks by the worst table alone — and its tiers rank "≥ 95 % kept"
above the issue's other goals, which the variants that do keep seed 8's best miss elsewhere (a look at 60
orderings of seeds 2 and 5-8: judged from the second fusion epoch and held while rising, 1.2-1.3× fewer epochs
than plain Optuna on seeds 2, 5 and 6, goal 1.5×). So the tenth round counts the issue's goals instead: for each
candidate, the (table, goal) pairs it meets on seeds 0-8 among the five of :data:`GOALS` (against plain Optuna:
≥ 2× sooner to within 0.01, ≥ 1.5× fewer epochs, the best kept in ≥ 95 % of orderings; against stock median with
the store: the best kept as often, no more epochs); the most wins, a tie the fewest epochs to within 0.01 summed
over the tables (``--round 10``, every candidate replayed on every table). The candidates: ``near-best``, the
ninth round's four, and six new ones — judgement held while the trial's value still climbs (``hold_rising``: it
rose by more than 0 or 0.005 since the epoch before), from the first fusion epoch or the second, so that a slow
starter like seed 8's best is judged once it levels off rather than on the way up; and the ninth round's choice
with its percentile from six trials reached. The check on seed 9: the choice replaces ``near-best`` as the
default only if on seed 9 it meets at least as many of the five goals as ``near-best`` does there; otherwise
``near-best`` stays. (After the round, 2026-12-02:) on seeds 0-8 the rule chose the ninth round's choice again,
0.03 below the best in fold 0, then 0.02 (35 of 45 goals; ``near-best`` 34). On seed 9 (``--seeds 9 --round 10
--only "below the"``) it met 3 of the five goals, ``near-best`` all 5 — 1.997× sooner than plain Optuna (goal 2×)
and 404 epochs to stock median's 402 — and ``near-best`` stays.

(2026-12-07:) every round above measured "epochs to within 0.01" as the mean over orderings of the epochs until the
best-so-far came within 0.01 of the best, an ordering that never did counting all its epochs — which rewards a
variant that stops early and loses the best. From now on the rules read the expected running time (ERT, COCO's:
all orderings' epochs over the orderings that got there; :mod:`search.replay.simulate`); the recorded rounds keep
their old numbers, labelled so in bench/README.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from _common import REPO, emit, machine
from _variant_catalogue import ROUNDS, VARIANTS, default_variant
from pruning import result_path

from search.pruners import SameStepPruner, make_pruner
from search.replay import load_recording, run_replay

RESULTS = REPO / "bench" / "results"
#: What a replay row keeps. Results written before 2026-12-07 hold ``epochs_to_within_001`` (the mean over orderings
#: of the epochs to within 0.01, an ordering that missed counting all its epochs) instead of the expected running
#: times: bench/README renders those rounds with the old metric, labelled.
KEPT = ("epochs_mean", "epochs_p05", "epochs_p95", "speedup_vs_median", "p_best_within_001", "p_best_within_002",
        "ert_within_001", "ert_within_002", "ert_001_vs_oracle_at_fusion", "ert_002_vs_oracle_at_fusion",
        "sooner_001_vs_median_no_store", "sooner_002_vs_median_no_store", "fewer_epochs_vs_median_no_store",
        "false_prune_rate", "prunes_by_rule", "false_prune_rate_by_rule", "shortfall_p50", "shortfall_p95")  # fmt: skip


@functools.lru_cache
def curves(table: str, seed: int):
    """A table's recording, read once per process (a pool process replays many variants of it)."""
    return load_recording(result_path("curves", seed, ".json.gz", table))


def replay_variants(
    table: str,
    seeds: list[int],
    orderings: int,
    only: str = "",
    reuse: dict | None = None,
    jobs: int = 1,
    names: tuple[str, ...] = tuple(VARIANTS),
    skip_unsafe: bool = True,
) -> dict:
    """Every variant (and the stock rows beside them) on each table, ``jobs`` replays at a time.

    ``reuse``: rows of an earlier run of this script with the same orderings (replays are deterministic for
    their seed): only variants missing there are replayed, and a variant that kept the best in < 95 % of
    orderings on one of the reused tables is not replayed on the others — the rule could never choose it.
    ``names``: the variants to consider (a round that compares only some). ``skip_unsafe=False`` replays every
    variant on every table (a rule that can choose a variant unsafe on some table, like the tenth round's)."""
    rows: dict[int, dict] = {}
    for seed in seeds:
        found = reuse.get(f"seed{seed}") if reuse is not None and reuse.get("orderings") == orderings else None
        rows[seed] = {k: v for k, v in (found or {}).get("variants", {}).items() if k in names or k in _FRAME}
    tasks = [(table, seed, orderings, None) for seed in seeds if not all(k in rows[seed] for k in _FRAME)]
    unsafe = {n for seed in seeds for n, row in rows[seed].items() if n in names and not _safe(row) and skip_unsafe}
    tasks += [(table, seed, orderings, name) for seed in seeds for name in names
              if only in name and name not in rows[seed] and name not in unsafe]  # fmt: skip
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for (_, seed, _, name), found in zip(tasks, pool.map(_replay_one, tasks), strict=True):
            rows[seed].update(found)
            if name is not None:
                row = _against_stock(rows[seed], found[name])
                print(f"{table} seed {seed} {name[:58]:58s} {row['epochs_mean']:5.0f} epochs, best kept "
                      f"{row['p_best_within_001']:.1%}, ERT to within 0.01 {row['ert_within_001']:.0f} "
                      f"({row['sooner_001_vs_median_no_store']:.2f}× sooner, {row['fewer_epochs_vs_median_no_store']:.2f}× "
                      "fewer than plain median)", flush=True)  # fmt: skip
    result = {}
    for seed in seeds:
        recording = curves(table, seed)
        for name in names:
            if name in rows[seed]:
                _against_stock(rows[seed], rows[seed][name])
        result[f"seed{seed}"] = {"trials": len(recording.trials),
                                 "best_recorded": max(t.value for t in recording.trials), "variants": rows[seed]}  # fmt: skip
    return result


def _replay_one(task: tuple[str, int, int, str | None]) -> dict:
    """One variant on one table (``name`` None: the stock rows, :data:`_FRAME`), in a pool process."""
    table, seed, orderings, name = task
    recording = curves(table, seed)
    if name is None:
        return _stock_rows(recording, orderings)
    settings, margin = VARIANTS[name]

    def pruner_for(strategy, layout):
        return SameStepPruner(layout, **settings) if strategy == "ours" else make_pruner(strategy, layout)

    # plain Optuna's row is replayed once per table (_stock_rows); the ratios against it are taken in replay_variants
    document = run_replay(recording, ["ours"], orderings=orderings, seed=0, pruner_for=pruner_for,
                          races=("ours",) if margin is not None else (), race_margin=margin or 0.0,
                          median_no_store=False)  # fmt: skip
    return {name: {k: document["strategies"]["ours"].get(k) for k in KEPT}}


def _against_stock(table_rows: dict, row: dict) -> dict:
    """``row`` with its ratios to stock median with the store and to plain Optuna (median, no store) filled in."""
    median, plain = table_rows[_FRAME[0]], table_rows[_FRAME[1]]
    row["speedup_vs_median"] = median["epochs_mean"] / row["epochs_mean"]
    for key in ("001", "002"):  # ERT ratios: ∞ where only plain Optuna never got there, 0 where only the variant missed
        ours, theirs = row[f"ert_within_{key}"], plain[f"ert_within_{key}"]
        row[f"sooner_{key}_vs_median_no_store"] = theirs / ours if not math.isinf(ours) else 0.0
    row["fewer_epochs_vs_median_no_store"] = plain["epochs_mean"] / row["epochs_mean"]
    return row


#: The rows every variant is read against.
_FRAME = ("median (stock, with the store)", "median (stock, no store: plain Optuna)", "none (with the store)", "oracle",
          "oracle at fusion")  # fmt: skip


def _stock_rows(recording, orderings: int) -> dict:
    """Stock median with and without the store, none, and the two oracles (:data:`_FRAME`)."""
    stock = run_replay(recording, ["median", "none"], orderings=orderings, seed=0)
    documents = (stock["strategies"]["median"], stock["reference"]["median_no_store"], stock["strategies"]["none"],
                 stock["oracle"], stock["oracle_at_fusion"])  # fmt: skip
    return {label: {k: document.get(k) for k in KEPT} for label, document in zip(_FRAME, documents)}


def _safe(row: dict) -> bool:
    return row["p_best_within_001"] >= 0.95


def choose(result: dict, seeds: list[int], names: tuple[str, ...] = tuple(VARIANTS)) -> tuple[str, str]:
    """The rule in the module docstring, applied to the variants ``names`` on the tables ``seeds``: (variant, which
    tier chose it). A variant without a row on some table was unsafe on another (see :func:`replay_variants`)."""
    dominant, safe, kept = [], [], []
    for name in names:
        rows = [result[f"seed{s}"]["variants"].get(name) for s in seeds]
        if None in rows:
            continue
        medians = [result[f"seed{s}"]["variants"][_FRAME[0]] for s in seeds]
        to_best = sum(r["ert_within_001"] for r in rows)
        if all(_safe(r) for r in rows):
            safe.append((to_best, name))
            if all(r["epochs_mean"] <= m["epochs_mean"] for r, m in zip(rows, medians)):
                dominant.append((to_best, name))
        kept.append((-min(r["p_best_within_001"] for r in rows), to_best, name))
    if dominant:
        return min(dominant)[1], "safe and no more epochs than stock median with the store"
    if safe:
        return min(safe)[1], "safe on every table (none also needs no more epochs than stock median)"
    return min(kept)[2], "none safe on every table: the one whose worse table keeps the best most often"


#: The issue's goals for a default on one table (the tenth round's rule counts them): against plain Optuna (stock
#: median, no store) ≥ 2× sooner to within 0.01 of the best, ≥ 1.5× fewer epochs, the best kept in ≥ 95 % of
#: orderings; against stock median with the store, the best kept at least as often and no more epochs.
GOALS: dict[str, Callable[[dict, dict], bool]] = {
    "≥ 2× sooner than plain Optuna": lambda row, median: row["sooner_001_vs_median_no_store"] >= 2.0,
    "≥ 1.5× fewer epochs than plain Optuna": lambda row, median: row["fewer_epochs_vs_median_no_store"] >= 1.5,
    "best kept in ≥ 95 %": lambda row, median: row["p_best_within_001"] >= 0.95,
    "best kept as often as stock median with the store": lambda row, median: (
        row["p_best_within_001"] >= median["p_best_within_001"]),
    "no more epochs than stock median with the store": lambda row, median: row["epochs_mean"] <= median["epochs_mean"],
}  # fmt: skip


def goals_met(table_rows: dict, name: str) -> list[str]:
    """The :data:`GOALS` variant ``name`` meets on one table (its rows, stock ones included)."""
    median = table_rows[_FRAME[0]]
    return [goal for goal, met in GOALS.items() if met(table_rows[name], median)]


def choose_by_goals(result: dict, seeds: list[int], names: tuple[str, ...]) -> tuple[str, str]:
    """The tenth round's rule (module docstring): the variant meeting the most (table, goal) pairs of :data:`GOALS`
    on the tables ``seeds``; a tie goes to the fewest epochs to within 0.01 of the best, summed over the tables."""
    scored = []
    for name in names:
        tables = [result[f"seed{s}"]["variants"] for s in seeds]
        met = sum(len(goals_met(rows, name)) for rows in tables)
        scored.append((-met, sum(rows[name]["ert_within_001"] for rows in tables), name))
    met, _, name = min(scored)
    return name, f"meets {-met} of the {len(GOALS) * len(seeds)} goals on {len(seeds)} tables, the most"


def _merged(paths: list[Path], keep_variants: bool) -> dict:
    """Earlier outputs of this script as one ``reuse``: each table's rows from the first file that has it;
    without ``keep_variants`` only the stock rows (:data:`_FRAME`), which no degeneracy rule touches."""
    merged: dict = {}
    for path in paths:
        document = json.loads(path.read_text())
        merged.setdefault("orderings", document["orderings"])
        if document["orderings"] != merged["orderings"]:
            raise SystemExit(f"error: {path}: {document['orderings']} orderings, not {merged['orderings']}")
        for seed in document["seeds"]:
            rows = document[f"seed{seed}"]["variants"]
            kept = rows if keep_variants else {k: v for k, v in rows.items() if k in _FRAME}
            merged.setdefault(f"seed{seed}", {"variants": kept})
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", default="v2")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--orderings", type=int, default=200)
    parser.add_argument(
        "--only", default="", help="replay only the variants whose name contains this (a look, not a choice)"
    )
    parser.add_argument(
        "--reuse", type=Path, nargs="+", help="earlier outputs of this script: replay only the variants they lack"
    )
    parser.add_argument(
        "--round",
        type=int,
        choices=sorted(ROUNDS),
        help="compare near-best and this round's candidates only, by its rule: the ninth reuses nothing but the stock "
        "rows, the tenth replays every candidate on every table and counts the issue's goals",
    )
    parser.add_argument("--jobs", type=int, default=1, help="replays at a time (one per core)")
    parser.add_argument("--out", type=Path, help="the JSON file [default: bench/results/pruning-TABLE-variants.json]")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    started = time.perf_counter()
    # the ninth round replayed its variants again under the degeneracy rules of 2026-12-02; the tenth reuses its rows
    reuse = _merged(args.reuse, keep_variants=args.round != 9) if args.reuse else None
    names = (default_variant(), *ROUNDS[args.round]) if args.round else tuple(VARIANTS)
    rule = choose_by_goals if args.round == 10 else choose
    # only the tiered rule can never choose a variant < 95 % kept on some table: it alone skips replaying them
    result = replay_variants(args.table, seeds, args.orderings, args.only, reuse, args.jobs, names,
                             skip_unsafe=rule is choose)  # fmt: skip
    chosen, why = (None, None) if args.only else rule(result, seeds, names)
    print(f"chosen by the rule on seeds {seeds}: {chosen} ({why})")
    out = args.out or RESULTS / (
        "pruning-variants.json" if args.table == "v1" else f"pruning-{args.table}-variants.json"
    )
    counted = rule is choose_by_goals
    if counted:  # what the rule counted, per table
        for seed in seeds:
            rows = result[f"seed{seed}"]["variants"]
            result[f"seed{seed}"]["goals_met"] = {name: goals_met(rows, name) for name in names if name in rows}
    emit({"bench": "pruning-variants", "round": args.round, "goals": list(GOALS) if counted else None, "table": args.table, "machine": machine(), "orderings": args.orderings,
          "seeds": seeds, "chosen": chosen, "chosen_because": why, "default_variant": default_variant(), "wall_s": round(time.perf_counter() - started, 1), **result}, out)  # fmt: skip


if __name__ == "__main__":
    main()
