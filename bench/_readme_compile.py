"""bench/README's section on compiling each model once per process, from ``results/compile-once.json``."""

from __future__ import annotations

from _readme_tables import RESULTS, load, table


def compile_once() -> str:
    if not (RESULTS / "compile-once.json").is_file():
        return ""
    result = load("compile-once.json")
    runs = result["runs"]
    arms = table(
        ["run", "commit", "trials per CPU hour", "CPU s", "wall s", "trial wall s, median (range)",
         "worker RSS after trial 1 → last, MB"],
        [[r["label"], f"`{r['commit']}`", f"{r['trials_per_cpu_hour']:.1f}",
          f"{r['cpu_seconds']:.0f}" + (f" (launcher {r['launcher_cpu_seconds']:.0f})" if "launcher_cpu_seconds" in r else ""),
          f"{r['wall_seconds']:.0f}", f"{r['trial_wall_median']:.1f} ({r['trial_wall_range'][0]:.1f}–"
          f"{r['trial_wall_range'][1]:.1f})", _rss(r)] for r in runs],
    )  # fmt: skip
    first = {arm: next(r for r in runs if r["arm"] == arm) for arm in ("before", "after")}
    curves = result["curves"]
    params = first["before"]["params"]  # trial number (a JSON key) → its sampled knobs
    names = sorted(params["0"])
    values = table(
        ["trial", *(f"`{name}`" for name in names), "QWK before", "QWK after"],
        [[n, *(f"{params[str(n)][name]:.3g}" for name in names), f"{b:.4f}", f"{a:.4f}"]
         for n, (b, a) in enumerate(zip(first["before"]["values"], first["after"]["values"]))],
    )  # fmt: skip
    categories = [k for k in first["after"]["profile"] if k != "samples"]
    profile = table(
        ["where a warm worker's trial time goes", *(f"{arm} ({first[arm]['profile']['samples']} samples)"
                                                    for arm in first)],
        [[name, *(f"{first[arm]['profile'][name]:.1%}" for arm in first)] for name in categories],
    )  # fmt: skip
    jax = result.get("jax")
    jax_text = ""
    if jax:
        first_run, second_run = jax["runs"]
        jax_text = f"""
**JAX, across processes** (`--jax`): two `dfu-search train` runs (quick preset, 3 folds, no store), one after
the other, with `KERAS_BACKEND=jax` on one cache folder. The first compiles every program and writes
{first_run["cache_entries"]} entries under `CACHE/xla/`; the second loads them: {first_run["wall_seconds"]:.0f} s →
{second_run["wall_seconds"]:.0f} s wall, {first_run["cpu_seconds"]:.0f} → {second_run["cpu_seconds"]:.0f} CPU s
({jax["speed-up_cpu"]:.2f}× fewer){_same(jax)}.
"""
    return f"""## Compiling each model once per process

`python bench/compile_once.py --jax` (`results/compile-once.json`; {result["machine"]["cores"]} cores
{result["machine"]["cpu"]}, no GPU). One worker, {result["trials"]} trials of the quick preset on demo data
drawn as `make demo` draws it (3 folds, `--pruner none --no-rules --sampler random --seed {result["seed"]}`,
the pre-training store on and empty at the start), `before` = commit `{result["base"]}` (a new model built
and compiled for every fold and stage, Keras' session cleared after each fold) and `after` = this code
(`trainer/model/_compiled.py`), one after the other. CPU seconds are the launcher's and its worker's
(py-spy's own taken out).

{arms}

**{result["speed_up_trials_per_cpu_hour"]:.2f}× more trials per CPU hour** (median over the repeats; before
{_rate(result, "before")}, after {_rate(result, "after")}). The seeded random sampler gave both arms the same
configurations ({"yes" if result["same_configurations"] else "NO"}). {result["trials_with_equal_values"]} of
{result["trials"]} trials end with the same value bit for bit, the largest difference is
{result["largest_value_difference"]:.2g}; fold QWKs: {curves["folds_with_equal_qwk"]} equal, the largest
difference {curves["largest_fold_qwk_difference"]:.2g}; per-epoch reports at the same step (stored to 5 digits)
differ by at most {curves["largest_train_loss_difference"]:.2g} in training loss,
{curves["largest_val_loss_difference"]:.2g} in validation loss and {curves["largest_val_qwk_difference"]:.2g} in
validation QWK. The cause is the focal loss's alpha, now each row's sample weight: its product is no longer
taken with a constant, which TensorFlow's graph optimiser arranged its own way (a `tf.Variable` alpha read by
the loss differs from the constant just the same), a last-bit difference that Adam can carry into
another prediction{_rows(curves)}. Everything else is exact: a worker's second trial
equals the same trial in a fresh process bit for bit on both backends (`tests/test_compile_once.py`), and a
`dfu-search train` of the quick preset on this data (default alpha cap) gives the same `result.json` folds as
before, bit for bit.

{values}

The profile: py-spy at 40 Hz on the worker for {first["after"]["profile_seconds"]:.0f} s from the end of its first
trial, each sample inside a trial sorted by the first category its stack matches (`CATEGORIES` in
`bench/compile_once.py`). Before, every fold and stage traced its train and predict steps, and Keras' session
was cleared after every fold; the data pipeline was started again every epoch. What is left beside executing
ops is Python: the trial's plots for the dashboard, scoring each epoch's validation visits (scikit-learn),
Keras' `fit` around each step, and the study's storage. The share is of a warm worker's trials; the CPU
seconds above also hold what a worker does once (imports, loading the data, its first trial's tracing) and
the launcher's live display.

{profile}
{_memory()}{jax_text}"""


def _rows(curves: dict) -> str:
    rows = curves.get("reports_differing")  # recorded since the run after results/compile-once.json's
    if not rows:
        return ""
    return (
        f": of the reports at the same step, {rows['fusion']} of the fusion stages' differ and {rows['pretrain']}"
        " of pre-training's (alpha one for every class, its default, where both forms give the same numbers)"
    )


def _same(jax: dict) -> str:
    if "same_result" not in jax:
        return ""
    return ", the same `result.json` folds" if jax["same_result"] else ", NOT the same `result.json` folds"


def _rate(result: dict, arm: str) -> str:
    summary = result["summary"][arm]
    low, high = summary["range"]
    return f"{summary['trials_per_cpu_hour_median']:.0f} ({low:.0f}–{high:.0f})"


def _memory() -> str:
    """The long worker: RSS after each of many trials (``--arms after --trials 30``)."""
    if not (RESULTS / "compile-once-after.json").is_file():
        return ""
    run = load("compile-once-after.json")["runs"][0]
    rss = {int(k): v / 1024 for k, v in run["rss_kb_by_trials_done"].items()}
    return (
        f"\n**A long worker** (`python bench/compile_once.py --arms after --trials {run['trials']} --profile-seconds 0`,"
        f" `results/compile-once-after.json`): the worker's RSS after trial {min(rss)} {rss[min(rss)]:.0f} MB, after"
        f" trial {max(rss)} {rss[max(rss)]:.0f} MB, at most {max(rss.values()):.0f} MB; before this change a worker"
        " grew with every trial (the table above).\n"
    )


def _rss(run: dict) -> str:
    rss = {int(k): v for k, v in run["rss_kb_by_trials_done"].items()}
    if not rss:
        return ""
    return f"{rss[min(rss)] / 1024:.0f} → {rss[max(rss)] / 1024:.0f}"
