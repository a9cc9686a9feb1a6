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
        [[r["label"], f"`{r['commit']}`", f"{r['trials_per_cpu_hour']:.1f}", f"{r['cpu_seconds']:.0f}",
          f"{r['wall_seconds']:.0f}", f"{r['trial_wall_median']:.1f} ({r['trial_wall_range'][0]:.1f}–"
          f"{r['trial_wall_range'][1]:.1f})", _rss(r)] for r in runs],
    )  # fmt: skip
    first = {arm: next(r for r in runs if r["arm"] == arm) for arm in ("before", "after")}
    values = table(
        ["trial", *(f"{p}" for p in sorted(first["before"]["params"][0])), "QWK before", "QWK after"],
        [[n, *(f"{first['before']['params'][n][p]:.3g}" for p in sorted(first["before"]["params"][n])),
          f"{b:.4f}", f"{a:.4f}"]
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
({jax["speed-up_cpu"]:.2f}× fewer), the same result.
"""
    return f"""## Compiling each model once per process

`python bench/compile_once.py --jax` (`results/compile-once.json`; {result["machine"]["cores"]} cores
{result["machine"]["cpu"]}, no GPU). One worker, {result["trials"]} trials of the quick preset on demo data
drawn as `make demo` draws it (3 folds, `--pruner none --no-rules --sampler random --seed {result["seed"]}`,
the pre-training store on and empty at the start), `before` = commit `{result["base"]}` (a new model built
and compiled for every fold and stage, Keras' session cleared after each fold) and `after` = this code
(`trainer/model_cache.py`), one after the other. CPU seconds are the launcher's and its worker's
(py-spy's own taken out).

{arms}

**{result["speed_up_trials_per_cpu_hour"]:.2f}× more trials per CPU hour.** The seeded random sampler gave
both arms the same configurations ({"yes" if result["same_configurations"] else "NO"}); the largest
difference between a trial's values is {result["largest_value_difference"]:.2g} (the TensorFlow trainer gives
the same `result.json` folds bit for bit as before: the per-sample alpha changed no value here):

{values}

The profile: py-spy at 40 Hz on the worker for {first["after"]["profile_seconds"]:.0f} s from the end of its first
trial, each sample inside a trial sorted by the first category its stack matches (`CATEGORIES` in
`bench/compile_once.py`). What is left between executing ops and all of a trial is mostly Keras' `fit`
feeding small in-memory arrays through `tf.data` (an iterator made every epoch) and the rest of `fit`'s
and the stage's Python per step and per epoch.

{profile}
{jax_text}"""


def _rss(run: dict) -> str:
    rss = {int(k): v for k, v in run["rss_kb_by_trials_done"].items()}
    if not rss:
        return ""
    return f"{rss[min(rss)] / 1024:.0f} → {rss[max(rss)] / 1024:.0f}"
