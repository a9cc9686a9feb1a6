"""Writes ``bench/README.md``: every table from the JSON in ``bench/results/``, so none can drift from its data.

    python bench/readme.py           # rewrite bench/README.md
    python bench/readme.py --check   # exit 1 if bench/README.md is not what the results give (a test runs this)

The prose around the tables says how each benchmark runs and what was decided from it; the numbers
come from the result files alone.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from _readme_compile import compile_once
from _readme_pruning import pruner_decision, pruner_goal, pruner_led, pruning_led, pruning_v2
from _readme_scale import scale
from _readme_selection import estimate_summary, oof_read_cost, selection
from _readme_tables import RESULTS, load, pct, table

README = Path(__file__).resolve().parent / "README.md"
REPO_ROOT = README.parents[1]
#: Passages of other documents rendered from the results too: (file, block name) → text. In the file each sits
#: between ``<!-- rendered: NAME -->`` and ``<!-- /rendered -->`` lines.
BLOCKS: dict[tuple[str, str], Callable[[], str]] = {
    ("README.md", "pruner-decision"): pruner_decision,
    ("docs/pruning.md", "pruner-goal"): pruner_goal,
    ("docs/pruning.md", "pruner-led"): pruner_led,
    ("README.md", "selection-estimate"): estimate_summary,
    ("docs/estimate.md", "selection-estimate"): lambda: estimate_summary("../bench/README.md"),
    ("docs/estimate.md", "oof-read-cost"): oof_read_cost,
}


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

{table(["data", "seed", "metadata only", "default fusion", "Δ", "`degenerate`"], rows)}
"""


def overhead() -> str:
    result = load("overhead-quick.json")
    rows: dict[str, dict[int, float]] = {}
    for row in result["storage"]:
        rows.setdefault(row["strategy"], {})[row["workers"]] = row["median_ms"]
    workers = sorted({w for per in rows.values() for w in per})
    costs = table(["PostgreSQL, ms per trial (median)", *(f"{w} worker{'s' if w > 1 else ''}" for w in workers)],
                   [[f"`{s}`", *(f"{per.get(w, float('nan')):.0f}" for w in workers)] for s, per in rows.items()])  # fmt: skip
    return f"""## What a trial costs outside training

`python bench/overhead.py --quick --storages postgresql --workers {",".join(map(str, workers))} --strategies
{",".join(rows)}` (`results/overhead-quick.json`, {_machine(result)}): a trivially short objective making
a real trial's storage calls ({result["reports_per_trial"]} reports, the pruner's reads, attributes,
tell) against a real PostgreSQL server; the arms one after the other.

{costs}

Storage share of one quick trial ({result["quick_trial_s"]:.1f} s here) at {result["postgres_most_workers"]} workers:
{pct(result["storage_share_of_quick_trial"])}; everything outside training
{pct(result["outside_training_share_of_quick_trial"])}. The workers share two cores here, so the
many-worker figure measures CPU contention as much as the database. Once per worker or fold: study
load {result["study_load_s"]} s, TensorFlow import {result["tensorflow_import_s"]} s, image cache load
{result["cache_load_s"]} s, model build {result["model_build_s"]} s.
"""


def pretrain_store() -> str:
    if not (RESULTS / "pretrain-store.json").is_file():
        return ""
    result = load("pretrain-store.json")
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
            + table(["arm", "trials", "pruned", "epochs trained", "epochs from the store", "CPU s", "wall s",
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
            + table(["backbone@px", "entry MB", "hit: load s", "cold run s", "warm run s"], rows) + "\n"
        )  # fmt: skip
    return "\n".join(parts)


def fusion_weight() -> str:
    result = load("fusion-weight.json")
    rows = []
    for run in result["runs"]:
        weights = " / ".join(f"{f['final']:.3f}" for f in run["folds"])
        rows.append([f"{run['scale']:g}", run["init"], weights, f"{run['qwk']:.3f}", f"{run['metadata_qwk']:.3f}"])
    return f"""## The fusion weight

`python bench/fusion_weight.py` (`results/fusion-weight.json`): `dfu-search train` on the calibrated data
from the real metadata (data seed 0, one shot), quick preset, 3 folds, seed 0, from `fusion_init` 0.4 and
0.9 at each `fusion_lr_scale`; the RF weight each fold ends at, and the QWK. Scale 1 is the weight as it
was: a logit trained at the stage's learning rate, which Adam moves by about one learning rate a step.

{table(["fusion_lr_scale", "fusion_init", "final weight per fold", "QWK", "metadata alone"], rows)}

Decided: `fusion_lr_scale = 100`, the smallest scale tried at which the two starts end at most half as far
apart as they began, and their QWKs agree; the weight now learns what the data say instead of what
`fusion_init` said.
"""


def augment() -> str:
    result = load("augment.json")
    levels = result["levels"]
    show = lambda r: f"{r['median']:.3f} ({r['range'][0]:.3f}–{r['range'][1]:.3f})"  # noqa: E731
    rows = [
        [level, show(r["qwk"]), show(r["pretrain_qwk"]), f"{r['seconds']['median']:.0f}"] for level, r in levels.items()
    ]
    return f"""## Augmentation

`python bench/augment.py` (`results/augment.json`): quick preset at {result["settings"]["image_size"]} px,
{result["settings"]["folds"]} patient-grouped folds on the calibrated data (890 visits, 1 shot), data and
trainer seeds {", ".join(map(str, result["seeds"]))}, only `augment` changed; median (range):

{table(["augment", "fused QWK", "image-only QWK (pre-training)", "seconds a run"], rows)}

Decided: the default stays `augment = "none"`. With 8 pre-training epochs augmentation makes the image
task harder without time to pay off, the fusion stays within its seed spread, and a run costs more.
"""


def _throughput_rows(result: dict) -> list[list]:
    rows = []
    for r in result["throughput"]:
        full = pct(r["overhead_full_speed"]) if "overhead_full_speed" in r else "—"
        rng = r.get("overhead_cpu_range", [r.get("overhead_cpu")] * 2)
        cpu = f"**{pct(r['overhead_cpu'])}**" + (
            f" ({100 * rng[0]:.1f}–{100 * rng[1]:.1f})" if rng[0] != rng[1] else ""
        )
        rows.append([r["case"], cpu, full, pct(r["overhead"]), pct(r.get("validation_share")),
                     f"{r['bare_epoch_cpu_s']:.2f}"])  # fmt: skip
    return rows


def trainer() -> str:
    goal, extra = load("trainer-goal.json"), load("trainer-extra.json")
    header = ["case", "overhead, CPU s", "wall, full-speed epochs", "wall, all epochs", "validation forward pass",
              "bare epoch, CPU s"]  # fmt: skip
    return f"""## Training throughput

`python bench/throughput.py --quick` (`results/trainer-goal.json`, {_machine(goal)}): two copies of the
fusion model on the same random rows ({goal["rows"]} training, {goal["val_rows"]} validation, batch
{goal["batch"]}, {goal["epochs"]} epochs, the first not counted), one trained through the trainer's stage
(validation every epoch, running QWK, best-weight copies, the hook), one by a bare `model.fit`; each one
long `fit` in its own thread, the two taking strict turns. Overhead = `1 − bare / trainer` over the
counted epochs, median of the runs (range). The goal is ≤ 10 %; the validation forward pass is the
part no trainer that validates every epoch can skip.

{table(header, _throughput_rows(goal))}

{_epoch_start()}

This machine's wall time is noisy (the host sometimes slows the whole VM for the same CPU seconds), so
CPU seconds and the epochs that ran at full speed carry the comparison; on a GPU only wall time counts
(`bench/gpu.sh`). `python bench/throughput.py --extra --epochs 6` (`results/trainer-extra.json`):

{table(header, _throughput_rows(extra))}

Decided: on a CPU keep `precision = "float32"` for EfficientNet (`mixed` means bfloat16 here and costs
it more than it saves) and leave `jit_compile` and `deterministic` at `auto`.
"""


def _epoch_start() -> str:
    result = load("epoch-start.json")
    return (
        f"Part of the wall time is not the trainer's: a `fit` epoch sometimes waits before its first batch while Keras "
        f"starts the epoch's data iterator (`python bench/epoch_start.py`, `results/epoch-start.json`, "
        f"{result['case']}, {result['rows']} rows): {result['waited']} of {result['epochs_counted']} epochs waited more "
        f"than {result['waited_threshold_s']} s, {result['waited_to_first_batch_s']} s to the first batch against "
        f"{result['prompt_to_first_batch_s']} s (medians), for the same CPU seconds "
        f"({result['waited_cpu_s']} and {result['prompt_cpu_s']} s an epoch). A bare fit and the trainer both pay it."
    )


def gpu() -> str:
    runs = sorted(RESULTS.glob("gpu-*.json"))
    if not runs:
        return ""
    latest = json.loads(runs[-1].read_text())
    env = latest.get("environment", {})
    parts = [
        f"""## GPU

`bench/gpu.sh --wheels .gpu-wheels` (after `make gpu-wheels`) measures the GPU path in one command
within a time budget: `bench/throughput.py` per backbone and precision on the JAX backend, and a live
study of two workers sharing the GPU. Run `make gpu-dry-run` (the same steps at tiny sizes on the CPU, ~3 min; also
in `make test-all`) before a device run: a script that breaks there wastes the loan. Latest: `results/{runs[-1].name}` — {env.get("gpu", "?")}, driver
{env.get("driver", "?")}, CUDA {env.get("cuda", "?")}, jax {env.get("versions", {}).get("jax", "?")}, keras
{env.get("versions", {}).get("keras", "?")}, `XLA_FLAGS={(latest.get("settings") or {}).get("XLA_FLAGS")}`.
"""
    ]
    cases = [c for run in runs for c in json.loads(run.read_text()).get("cases", [])]
    measured = [c for c in cases if "error" not in c]
    if measured:
        rows = [[c["spec"], c["batch"], c["jit_compile"], c["bare_images_s"], c["trainer_images_s"], pct(c["overhead"]),
                 f"{(c.get('gpu_memory') or {}).get('peak_bytes', 0) / 2**30:.2f}"] for c in measured]  # fmt: skip
        parts.append(table(["case", "batch", "XLA", "bare fit images/s", "trainer images/s", "trainer overhead, wall",
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


def fingerprint() -> str:
    result = load("fingerprint.json")
    layout, first, later, before = (result[k] for k in ("layout", "first_join", "later_join", "count_and_size_before"))
    span = lambda r, key: f"{r[key + '_median']:.2f} s ({r[key + '_range'][0]:.2f}–{r[key + '_range'][1]:.2f})"  # noqa: E731
    rows = [["count and total size (the fingerprint before)", span(before, "wall_s"), span(before, "cpu_s")],
            ["first join on a host: every image hashed, page cache dropped" if all(first["page_cache_dropped"])
             else "first join on a host: every image hashed", span(first, "wall_s"), span(first, "cpu_s")],
            ["later join: kept digests, only changed files hashed", span(later, "wall_s"), span(later, "cpu_s")]]  # fmt: skip
    sizes = ", ".join(f"{folder} {mb} MB" for folder, mb in layout["estimated_png_mb"].items())
    return f"""## The data fingerprint

`python bench/fingerprint.py` (`results/fingerprint.json`, {_machine(result)}): what a joining worker pays for
the content digest of the images, on a folder of the real layout's size — one file for every image the real box
CSVs name, {layout["images"]:,} images of the 890 visits' shots in four modalities, {layout["gigabytes"]} GB. The
images are private, so the files are stand-ins of random bytes at an estimated PNG size ({sizes}: about half of
the raw bytes of 1280×720 depth and 1080×1440 thermal images); hashing reads bytes without looking at them.
{result["hash_threads"]} hashing threads; SHA-256 runs at {result["sha256_gb_per_s_one_core"]} GB/s on one core here.
Each measured {first["runs"]} times, one after the other.

{table(["", "wall", "CPU"], rows)}

A host hashes its images once (the launcher when it creates the study, or the first worker there; workers
starting together wait for it and read its digests); later joins stat every image and hash the CSVs only.
Same digest every run: {"yes" if result["same_digest_every_run"] else "NO"}.
"""


SECTIONS: tuple[Callable[[], str], ...] = (
    calibration,
    fusion_weight,
    pretrain_store,
    pruning_v2,
    pruning_led,
    overhead,
    scale,
    augment,
    trainer,
    compile_once,
    fingerprint,
    selection,
    gpu,
)


#: The questions a maintainer asks, the script that answers each (``bench/NAME.py``; its parts are ``_NAME_*.py``,
#: the helpers every script shares ``_common.py``) and the section below that shows the answer.
QUESTIONS = (
    ("How hard is the demo data, against the research's figures?", "calibration.py", "Demo data, calibrated"),
    ("Does the learnable fusion weight learn?", "fusion_weight.py", "The fusion weight"),
    ("What does the pre-training store save?", "pretrain_store.py", "The pre-training store"),
    ("What does pruning save, and how close is it to an oracle?", "pruning.py",
     "Pruning, replayed on the trainer users run (v2)"),
    ("Does pruning hold when a strong trial comes first?", "pruning.py", "Pruning when a strong trial comes first"),
    ("What does a trial cost outside training?", "overhead.py", "What a trial costs outside training"),
    ("What load does one PostgreSQL hold; what do workers cost in memory?", "scale.py, worker_memory.py",
     "Load held: many workers on one PostgreSQL"),
    ("Does augmentation help?", "augment.py", "Augmentation"),
    ("What does the trainer add to a bare `fit`?", "throughput.py, epoch_start.py", "Training throughput"),
    ("What does compiling each model once save?", "compile_once.py", "Compiling each model once per process"),
    ("What does a joining worker pay for the data fingerprint?", "fingerprint.py", "The data fingerprint"),
    ("Is the study's best QWK what new patients get?", "selection.py",
     "What the chosen configuration scores on new patients"),
    ("What does the GPU path give?", "gpu.sh, gpu.py", "GPU"),
)  # fmt: skip


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return "".join(c for c in heading.strip().lower() if c.isalnum() or c in " -_").replace(" ", "-")


def render() -> str:
    index = table(["question", "script", "answer"],
                  [[q, ", ".join(f"`{name.strip()}`" for name in script.split(",")), f"[{section}](#{_anchor(section)})"]
                   for q, script, section in QUESTIONS])  # fmt: skip
    head = f"""# Benchmarks

Generated by `python bench/readme.py` from `bench/results/` — do not edit by hand; a test fails when
this file and the results disagree. Each script ends with one JSON line (also written with `--out`);
the real metadata is read from `../shared/data` (`$DFU_SHARED_DATA`) and demo images are drawn for its
visits under `bench/.work/`. Unless a section says otherwise, the machine is the development VM:
2 cores, 24 GiB, no GPU.

{index}

`bench/results/` holds what the sections render and the recordings they replay; results no section renders any
more — the rounds that chose the pruning default, the tables before the pre-training store, superseded runs — are
frozen in [results/historical](results/historical/README.md) with what each was.
"""
    return head + "\n" + "\n".join(text for text in (section() for section in SECTIONS) if text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 if bench/README.md differs from the results")
    args = parser.parse_args()
    outputs = {README: render(), **rendered_blocks()}
    if args.check:
        stale = [str(path.relative_to(REPO_ROOT)) for path, text in outputs.items() if path.read_text() != text]
        if stale:
            sys.exit(f"{', '.join(stale)} stale: run python bench/readme.py")
        return
    for path, text in outputs.items():
        path.write_text(text)
        print(f"wrote {path} ({len(text)} bytes)")


def rendered_blocks() -> dict[Path, str]:
    """Each document of :data:`BLOCKS` with its blocks rendered from the results."""
    documents: dict[Path, str] = {}
    for (name, block), render_block in BLOCKS.items():
        path = REPO_ROOT / name
        text = documents.get(path, path.read_text())
        start, end = f"<!-- rendered: {block} -->\n", "<!-- /rendered -->"
        if start not in text:
            sys.exit(f"{name}: no '{start.strip()}' line for the block bench/readme.py renders")
        head, rest = text.split(start, 1)
        documents[path] = head + start + render_block() + "\n" + end + rest.split(end, 1)[1]
    return documents


if __name__ == "__main__":
    main()
