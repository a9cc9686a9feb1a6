"""The rounds that chose the pruning default in ``bench/README.md``: each round's variants on the tables it saw,
and the check of its choice on the table recorded after it."""

from __future__ import annotations

from _readme_tables import RESULTS, load, pct, table

#: The rounds chose by this figure, recorded in their result files: the mean over orderings of the epochs until the
#: best so far came within 0.01 of the best, an ordering that never did counting all its epochs (it rewards losing
#: the best; the v2 tables now show the expected running time).
OLD_TO_BEST = "epochs to within 0.01 (old metric: a miss counts its epochs)"

#: What each round chose, and the table recorded after it that checks the choice by the condition stated in
#: bench/pruning_variants.py before that table was read: (seeds chosen on, choice, the check needs no more epochs
#: than stock median with the store too — the first tier's condition — or only ≥ 95 % kept, the second's, and the
#: command's options).
HELD_OUT_CHECKS = {
    6: ("0–5", "trial mean from fusion epoch 1, 40th percentile of 8 trials reached, 0.02 below the best, no race",
        True, '--only "of 8 trials reached, 0.02 below"'),
    7: ("0–6", "trial mean from fusion epoch 1, 33rd percentile of 8 trials reached, 0.02 below the incumbent, no race",
        False, '--only "0.02 below the"'),
    8: ("0–7", "trial mean from fusion epoch 1, 33rd percentile of 8 trials reached, 0.03 (fold 0) / 0.02 below the "
        "best, no race", False, '--round 9 --only "below the"'),
}  # fmt: skip


def held_out_check(seed: int) -> str:
    """A round's choice and ``near-best`` on the table recorded after it (data seed ``seed``), judged by the
    condition stated in bench/pruning_variants.py before that table was read."""
    name = f"pruning-v2-variants-seed{seed}.json"
    if not (RESULTS / name).is_file():
        return ""
    chosen_on, choice, needs_epochs, options = HELD_OUT_CHECKS[seed]
    document = load(name)
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
        rows.append([label, f"{row['epochs_mean']:.0f}", pct(row["p_best_within_001"]),
                     f"{row['epochs_to_within_001']:.0f}", f"{row['sooner_vs_median_no_store']:.2f}×",
                     "yes" if passes(row) else "no"])  # fmt: skip
    rows.append(["stock median with the store", f"{median['epochs_mean']:.0f}", pct(median["p_best_within_001"]),
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
        + table(["variant", "epochs", "best kept", OLD_TO_BEST, "sooner than plain Optuna (old metric)", column], rows)
        + "\n"
    )  # fmt: skip


def variants_table(document: dict, label=lambda name: name, skip: tuple[str, ...] = ()) -> str:
    """A bench/pruning_variants.py result as one table: a row per variant (``label`` names it), a column per table."""
    seeds = document["seeds"]
    rows = [[label(name), *(_variant_cell(document[f"seed{s}"]["variants"].get(name)) for s in seeds)]
            for name in document[f"seed{seeds[0]}"]["variants"] if name not in skip]  # fmt: skip
    return table(["variant", *(f"data seed {s}" for s in seeds)], rows) + "\n"


def ninth_round() -> str:
    """``near-best`` against the ninth round's variants on every table recorded so far, under today's rules."""
    if not (RESULTS / "pruning-v2-variants-ninth.json").is_file():
        return ""
    ninth = load("pruning-v2-variants-ninth.json")
    seeds, default = ninth["seeds"], ninth["default_variant"]

    def label(name: str) -> str:
        return _label(name, ninth["chosen"], default)

    return (
        f"The ninth round (`python bench/pruning_variants.py --round 9 --seeds {','.join(map(str, seeds))} "
        "--reuse bench/results/pruning-v2-variants.json bench/results/pruning-v2-variants-seed7.json --jobs 2 "
        "--out bench/results/pruning-v2-variants-ninth.json`): `near-best` and variants with a wider margin below "
        f"the best in fold 0, by the same rule; chosen: **{ninth['chosen']}** ({ninth['chosen_because']})"
        + ("; `near-best` stays." if ninth["chosen"] == default else
           f"; it becomes the default only if data seed {max(seeds) + 1} confirms it.")
        + "\n\n" + variants_table(ninth, label, skip=("none (with the store)", "oracle", "oracle at fusion"))
        + "\n" + held_out_check(max(seeds) + 1)  # the table recorded after this round checks its choice
    )  # fmt: skip


def tenth_round() -> str:
    """The tenth round: ``near-best`` and its candidates on seeds 0–8 with the goals its rule counts, and the check
    of its choice on the table recorded after it."""
    if not (RESULTS / "pruning-v2-variants-tenth.json").is_file():
        return ""
    tenth = load("pruning-v2-variants-tenth.json")
    seeds, default, chosen = tenth["seeds"], tenth["default_variant"], tenth["chosen"]
    tables = [tenth[f"seed{s}"] for s in seeds]
    rows = []
    for name in tables[0]["goals_met"]:
        met = sum(len(seen["goals_met"][name]) for seen in tables)
        rows.append(
            [
                _label(name, chosen, default),
                met,
                *(_goals_cell(seen["variants"][name], seen["goals_met"][name]) for seen in tables),
            ]
        )
    goals = len(tenth["goals"]) * len(seeds)
    return (
        f"The tenth round (`python bench/pruning_variants.py --round 10 --seeds {','.join(map(str, seeds))} --reuse "
        "bench/results/pruning-v2-variants-ninth.json bench/results/pruning-v2-variants-seed8.json --jobs 2 --out "
        "bench/results/pruning-v2-variants-tenth.json`): `near-best`, the ninth round's variants and six new ones "
        "(judgement held while a trial still climbs; the percentile from six trials reached), by a rule that counts "
        "the issue's five goals on each table — against plain Optuna ≥ 2× sooner to within 0.01, ≥ 1.5× fewer "
        "epochs, the best kept in ≥ 95 % of orderings; against stock median with the store the best kept as often "
        f"and no more epochs. Chosen: **{chosen}** ({tenth['chosen_because']}). Each cell: goals met, epochs, best "
        "kept, × sooner (old metric) / × fewer epochs than plain Optuna.\n\n"
        + table(["variant", f"goals met (of {goals})", *(f"data seed {s}" for s in seeds)], rows)
        + "\n\n" + _goals_check(max(seeds) + 1, chosen, default)
    )  # fmt: skip


def _label(name: str, chosen: str, default: str) -> str:
    """A variant's row label: the round's choice in bold, ``near-best`` named."""
    return (f"**{name}**" if name == chosen else name) + (" (`near-best`)" if name == default else "")


def _goals_cell(row: dict, met: list[str]) -> str:
    return (f"{len(met)}: {row['epochs_mean']:.0f} ep, {pct(row['p_best_within_001'], 0)}, "
            f"{row['sooner_vs_median_no_store']:.2f}× / {row['fewer_epochs_vs_median_no_store']:.2f}×")  # fmt: skip


def _goals_check(seed: int, chosen: str, default: str) -> str:
    """The tenth round's check on data seed ``seed``, by the condition stated before it was read: the choice
    replaces ``near-best`` only if it meets at least as many of the five goals there."""
    name = f"pruning-v2-variants-seed{seed}.json"
    if not (RESULTS / name).is_file():
        return ""
    seen = load(name)[f"seed{seed}"]
    met = seen["goals_met"]
    if chosen == default:
        outcome = "The choice is `near-best`: the default stays."
    else:
        replaces = len(met[chosen]) >= len(met[default])
        outcome = (f"It meets {len(met[chosen])}, `near-best` {len(met[default])}: "
                   + ("the choice replaces `near-best`." if replaces else "`near-best` stays."))  # fmt: skip
    rows = [[_label(n, chosen, default), len(goals),
             "; ".join(goals) or "none", _goals_cell(seen["variants"][n], goals)] for n, goals in met.items()]  # fmt: skip
    return (
        f"The check on data seed {seed}, recorded before the round and replayed after its choice (`python "
        f"bench/pruning_variants.py --seeds {seed} --round 10 --only \"below the\" --out bench/results/{name}`): "
        f"the choice replaces `near-best` only if it meets at least as many of the five goals there. {outcome}\n\n"
        + table(["variant", "goals met", "which", "goals, epochs, kept, sooner (old metric) / fewer"], rows) + "\n"
    )  # fmt: skip


def _variant_cell(row: dict | None) -> str:
    if row is None:  # bench/pruning_variants.py does not replay a variant already unsafe on another table
        return "— (not replayed: < 95 % kept on another table)"
    return (f"{row['epochs_mean']:.0f} epochs, {pct(row['p_best_within_001'])} kept, "
            f"{row['epochs_to_within_001']:.0f} to 0.01 (old metric)")  # fmt: skip
