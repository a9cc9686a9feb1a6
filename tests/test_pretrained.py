"""The pre-training store: every setting classified, a hit equal to a miss, one training per key across processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from trainer.config import load_config
from trainer.stages import FOLDER, PRETRAIN_FIELDS, PretrainStore
from trainer.stages._store import OTHER_FIELDS, unclassified_fields

TINY = ["image_size=16", "epochs_pretrain=3", "epochs_stage1=2", "epochs_stage2=0", "rf_trees=30",
        "patience_pretrain=3", "patience_stage1=2", "batch_size=8", "folds=2"]  # fmt: skip


def test_every_trainer_setting_is_classified() -> None:
    """A new TrainConfig field must be declared read by pre-training (part of the key) or not: an unclassified
    knob could otherwise reuse a pre-training it would have changed."""
    assert not unclassified_fields()
    assert not PRETRAIN_FIELDS & OTHER_FIELDS


def test_the_key_follows_pretraining_settings_only() -> None:
    """Changing any setting pre-training reads (cnn_width, outside every search space, too), the fold, or what
    may end a stage makes a new key; changing a setting it does not read keeps the key."""
    from dataclasses import fields, replace

    store = PretrainStore(Path("unused"))
    base = load_config("quick")
    key = store.key(base, 0, "data", None, {})
    other_values = {bool: lambda v: not v, int: lambda v: v + 1, float: lambda v: v * 0.5 + 0.01}
    changed = {"modalities": ("metadata", "depth_rgb"), "backbone": "efficientnetb0", "precision": "mixed",
               "augment": "light", "aug_flip": "vertical", "jit_compile": True, "deterministic": False,
               "pretrain_alpha": 2.0, "weights": "imagenet"}  # fmt: skip
    for field in fields(base):
        value = getattr(base, field.name)
        new = changed.get(field.name, other_values.get(type(value), lambda v: v)(value))
        if field.name in ("aug_rotation", "aug_zoom", "aug_translation", "aug_contrast"):
            new = 0.1
        if new == value:
            continue
        same = store.key(replace(base, **{field.name: new}), 0, "data", None, {}) == key
        assert same == (field.name in OTHER_FIELDS), field.name
    assert store.key(base, 1, "data", None, {}) != key
    assert store.key(base, 0, "other data", None, {}) != key
    assert store.key(base, 0, "data", {"enabled": True}, {}) != key


def test_a_weights_file_is_keyed_by_its_content_not_its_name(tmp_path: Path) -> None:
    from dataclasses import replace

    store = PretrainStore(Path("unused"))
    base = load_config("quick")
    first, renamed = tmp_path / "backbone.weights.h5", tmp_path / "renamed.weights.h5"
    first.write_bytes(b"weights, version 1")
    key = store.key(replace(base, weights=str(first)), 0, "data", None, {})
    assert key != store.key(replace(base, weights="none"), 0, "data", None, {})
    first.rename(renamed)
    assert store.key(replace(base, weights=str(renamed)), 0, "data", None, {}) == key  # same content, other name
    renamed.write_bytes(b"weights, version 2")
    assert store.key(replace(base, weights=str(renamed)), 0, "data", None, {}) != key  # same name, other content


def test_the_key_holds_settings_as_resolved_and_the_device_kind(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Settings enter the key as the process resolved them: a study's ``modalities = []`` and train's resolved list,
    ``precision = "mixed"`` and the policy it means here, are one key; ``mixed`` on a GPU is another; so is the same
    pre-training on another kind of device, and under a changed trainer source."""
    from dataclasses import replace

    from trainer.stages import _store

    store = PretrainStore(Path("unused"))
    as_written = load_config("quick")  # modalities = () until the data resolves them
    listed = replace(as_written, modalities=("metadata", "depth_rgb", "thermal_map"), precision="mixed_bfloat16")
    cpu = {"modalities": ["metadata", "depth_rgb", "thermal_map"], "precision": "mixed_bfloat16",
           "deterministic": True, "jit_compile": False, "device": "cpu x86_64"}  # fmt: skip
    key = store.key(replace(as_written, precision="mixed"), 0, "data", None, cpu)
    assert store.key(listed, 0, "data", None, cpu) == key
    assert store.key(listed, 0, "data", None, {**cpu, "precision": "mixed_float16"}) != key
    assert store.key(listed, 0, "data", None, {**cpu, "device": "gpu NVIDIA H100 80GB HBM3"}) != key
    assert store.key(listed, 0, "data", None, {**cpu, "jit_compile": True}) != key
    with pytest.raises(ValueError, match="lr_stage1"):
        store.key(listed, 0, "data", None, {"lr_stage1": 1e-3})  # not a pre-training setting: a caller's mistake

    monkeypatch.setattr(_store, "trainer_source_digest", lambda: "another trainer")
    assert store.key(listed, 0, "data", None, cpu) != key


def test_the_trainer_source_digest_changes_with_any_trainer_file(tmp_path: Path) -> None:
    import trainer
    from trainer.stages._store import source_digest, trainer_source_digest

    copy = tmp_path / "trainer"
    shutil.copytree(Path(trainer.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert source_digest(copy) == trainer_source_digest()
    (copy / "__pycache__").mkdir(exist_ok=True)
    (copy / "__pycache__" / "_stage.cpython-311.pyc").write_bytes(b"compiled")  # not source
    assert source_digest(copy) == trainer_source_digest()
    with open(copy / "stages" / "_stage.py", "a") as stages:
        stages.write("\n# how a stage trains changed\n")
    assert source_digest(copy) != trainer_source_digest()


def _run(data: Path, cache: Path, *sets: str, reuse: bool = True, rules: dict | None = None) -> tuple[dict, list]:
    from trainer import RunCallbacks, train

    reports = []
    callbacks = RunCallbacks(on_epoch=reports.append, stage_rules=rules)
    summary = train(
        data, load_config("quick", None, [*TINY, *sets]), cache, callbacks=callbacks, reuse_pretraining=reuse
    )
    return summary, reports


def _stage(reports: list, stage: str) -> list[tuple]:
    return [
        (r.fold, r.epoch, r.step, r.val_qwk, r.train_loss, tuple(r.pred_histogram)) for r in reports if r.stage == stage
    ]


def test_a_stored_pretraining_gives_what_training_it_gives_and_a_changed_image_misses(
    demo_copy: Path, tmp_path: Path
) -> None:
    """Cold store, then warm: the same fold QWKs and stage-1 curves, bit for bit on a CPU; the warm run trains no
    pre-training epoch but reports the stored ones again, marked cached. The warm run lists the modalities the
    cold one left to the data (as a study's trial and ``train`` do): the same pre-training, a hit. A run with a
    longer stage 1 hits too, its pre-training reported at its own steps. Then one image changes: both folds miss."""
    from PIL import Image

    cache = tmp_path / "cache"
    cold, cold_reports = _run(demo_copy, cache)
    resolved = json.dumps(cold["config"]["modalities"])
    assert load_config("quick").modalities == ()  # the cold run left them to the data
    warm, warm_reports = _run(demo_copy, cache, f"modalities={resolved}")
    assert [f["qwk"] for f in warm["folds"]] == [f["qwk"] for f in cold["folds"]]
    assert [f["fusion_weight"] for f in warm["folds"]] == [f["fusion_weight"] for f in cold["folds"]]
    assert _stage(warm_reports, "stage1") == _stage(cold_reports, "stage1")
    assert _stage(warm_reports, "pretrain") == _stage(cold_reports, "pretrain")  # reported again, same values
    assert all(r.cached for r in warm_reports if r.stage == "pretrain")
    assert not any(r.cached for r in warm_reports if r.stage != "pretrain") and not any(r.cached for r in cold_reports)
    assert [f["stages"]["pretrain"]["cached"] for f in cold["folds"]] == [False, False]
    assert [f["stages"]["pretrain"]["cached"] for f in warm["folds"]] == [True, True]
    store = PretrainStore(cache / FOLDER)
    assert len(store.entries()) == 2 and [e.hits for e in store.entries()] == [1, 1]

    longer, longer_reports = _run(demo_copy, cache, "epochs_stage1=4")  # a layout of 3 + 4 + 0 epochs a fold
    layout = load_config("quick", None, [*TINY, "epochs_stage1=4"])
    assert [f["stages"]["pretrain"]["cached"] for f in longer["folds"]] == [True, True]
    pretrain = [r for r in longer_reports if r.stage == "pretrain"]
    assert [r.step for r in pretrain] == [layout.global_step(r.fold, "pretrain", r.epoch) for r in pretrain]
    assert [r.step for r in pretrain] != [r.step for r in cold_reports if r.stage == "pretrain"]  # fold 1 moved
    steps = [r.step for r in longer_reports]
    assert len(steps) == len(set(steps))  # no step reported twice: Optuna would keep the first value only

    image = sorted((demo_copy / "Thermal_Map_IMG").glob("*.png"))[0]
    Image.fromarray(255 - np.asarray(Image.open(image))).save(image)  # same file name, other content
    changed, _ = _run(demo_copy, cache, "epochs_stage1=0")
    assert [f["stages"]["pretrain"]["cached"] for f in changed["folds"]] == [False, False]
    assert len(store.entries()) == 4


_RACER = r"""
import json, sys, time
from pathlib import Path
from trainer.stages._store import PretrainStore

store, key, log, seconds = PretrainStore(Path(sys.argv[1])), sys.argv[2], Path(sys.argv[3]), float(sys.argv[4])

def train():
    with open(log, "a") as f:
        f.write("train\n")
    time.sleep(seconds)
    return {"trained_by": sys.argv[5]}

def save(folder, result):
    (folder / "result.json").write_text(json.dumps(result))

result, cached = store.train_or_load(key, train, save, lambda folder: json.loads((folder / "result.json").read_text()), "test")
print(json.dumps({"result": result, "cached": cached}), flush=True)
"""


def _racer(root: Path, log: Path, seconds: float, name: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _RACER, str(root), "k" * 32, str(log), str(seconds), name],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip


def test_two_processes_needing_one_key_train_it_once(tmp_path: Path) -> None:
    log = tmp_path / "trainings"
    first = _racer(tmp_path / "store", log, 2.0, "first")
    time.sleep(0.5)
    second = _racer(tmp_path / "store", log, 2.0, "second")
    outputs = [json.loads(p.communicate(timeout=60)[0]) for p in (first, second)]
    assert log.read_text().split() == ["train"]  # trained once
    # Which one trains is whichever takes the lock first: on a loaded machine the later start can win it.
    cached = [o["cached"] for o in outputs]
    assert sorted(cached) == [False, True]  # the other waited, then loaded what it stored
    trained_by = ["first", "second"][cached.index(False)]
    assert outputs[0]["result"] == outputs[1]["result"] == {"trained_by": trained_by}


def test_a_process_killed_while_training_blocks_nothing(tmp_path: Path) -> None:
    log = tmp_path / "trainings"
    doomed = _racer(tmp_path / "store", log, 600.0, "doomed")
    deadline = time.monotonic() + 30
    while not (log.exists() and log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    waiting = _racer(tmp_path / "store", log, 0.1, "survivor")  # blocks on the doomed one's lock ...
    time.sleep(0.5)
    assert waiting.poll() is None
    os.kill(doomed.pid, signal.SIGKILL)  # ... which the kernel releases with its process
    doomed.wait()
    output = json.loads(waiting.communicate(timeout=60)[0])
    assert output == {"result": {"trained_by": "survivor"}, "cached": False}
    entries = PretrainStore(tmp_path / "store").entries()
    assert len(entries) == 1 and not [p for p in (tmp_path / "store").iterdir() if p.name.startswith(".k")]


def test_an_unwritable_store_is_a_warning_and_a_normal_run(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    if os.geteuid() == 0:  # root writes anywhere: make the store a file instead of a folder
        (tmp_path / "store").write_text("not a folder")
    else:
        (tmp_path / "store").mkdir()
        (tmp_path / "store").chmod(0o500)
    store = PretrainStore(tmp_path / "store")
    calls = []
    result, cached = store.train_or_load("k" * 32, lambda: calls.append(1) or "trained", lambda f, r: None,
                                         lambda f: "loaded", "test")  # fmt: skip
    assert (result, cached, calls) == ("trained", False, [1])
    assert "not usable" in caplog.text
    shutil.rmtree(tmp_path / "store", ignore_errors=True)


def _plan():
    from trainer.stages import StagePlan

    return StagePlan(name="pretrain", lr=1e-3, epochs=2, patience=2, alpha=np.ones(3), gamma=2.0, batch_size=8,
                     lr_reduce_factor=0.5, lr_reduce_patience=2, fold=0, first_step=0)  # fmt: skip


@pytest.mark.parametrize("damage", ["other variables", "unreadable result"])
def test_an_entry_that_does_not_load_is_a_miss_trained_again_and_replaced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    """An entry stored from a model with other variables (or with a damaged file) fails no trial: one warning, the
    stage trained as on a miss from the model's own values, the entry replaced, and the next use a hit."""
    import keras

    from trainer.stages import StageResult
    from trainer.stages._stage import load_stage, save_stage

    def dense(units: int) -> keras.Model:
        return keras.Sequential([keras.Input((3,)), keras.layers.Dense(units)])

    store, key, plan = PretrainStore(tmp_path / "store"), "k" * 32, _plan()
    stored_from = dense(2) if damage == "other variables" else dense(4)
    store.train_or_load(key, lambda: StageResult("pretrain", epochs_run=1), lambda f, r: save_stage(f, stored_from, r),
                        lambda f: load_stage(f, stored_from, plan), "test")  # fmt: skip
    if damage == "unreadable result":
        (tmp_path / "store" / key / "stage.json").write_text("{not json")
    model = dense(4)
    before = [v.numpy().copy() for v in model.variables]
    trained = []

    def train() -> StageResult:
        assert all(np.array_equal(v.numpy(), b) for v, b in zip(model.variables, before))  # the failed load left it
        trained.append(1)
        return StageResult("pretrain", epochs_run=2)

    result, cached = store.train_or_load(key, train, lambda f, r: save_stage(f, model, r),
                                         lambda f: load_stage(f, model, plan), "test")  # fmt: skip
    assert (cached, result.epochs_run, trained) == (False, 2, [1])
    assert caplog.text.count("unusable") == 1
    again, cached = store.train_or_load(key, train, lambda f, r: None, lambda f: load_stage(f, model, plan), "test")
    assert (cached, again.epochs_run, trained) == (True, 2, [1])  # replaced: the new entry loads
