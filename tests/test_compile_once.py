"""Compiled once per process (trainer.model._compiled): a worker's second trial of an architecture traces nothing,
and gives bit for bit what a fresh process gives; on JAX a later process loads what an earlier one compiled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from trainer.config import TrainConfig

REPO = Path(__file__).resolve().parents[1]

# Two trials of one architecture, as a study samples them: other learning rates, alpha cap and fusion start
# (the default space's knobs); the same data, seed and folds (a study's layout).
_TRIALS = r"""
import json, sys
from pathlib import Path

import keras

from trainer import load_config, train

data, cache, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]

# Keras runs a train, predict or test step in Python only while tracing it (a tf.function or a jax.jit).
traces = []
for name in ("train_step", "predict_step", "test_step"):
    original = getattr(keras.Model, name)

    def counted(self, *args, _original=original, _name=name, **kwargs):
        traces.append(_name)
        return _original(self, *args, **kwargs)

    setattr(keras.Model, name, counted)

compiles = {"hits": 0, "misses": 0}
if keras.backend.backend() == "jax":
    import jax

    def on_event(event, **kwargs):
        if event == "/jax/compilation_cache/cache_hits":
            compiles["hits"] += 1
        elif event == "/jax/compilation_cache/cache_misses":
            compiles["misses"] += 1

    jax.monitoring.register_event_listener(on_event)

tiny = {"image_size": 16, "head_units": 16, "epochs_pretrain": 2, "epochs_stage1": 2, "epochs_stage2": 2,
        "patience_pretrain": 5, "patience_stage1": 5, "patience_stage2": 5, "folds": 2, "rf_trees": 30}
first = load_config("quick", overrides={**tiny, "lr_pretrain": 1e-3, "lr_stage1": 1e-3, "alpha_cap": 2.0,
                                        "fusion_init": 0.5})
second = load_config("quick", overrides={**tiny, "lr_pretrain": 1e-4, "lr_stage1": 3e-3, "lr_stage2": 1e-3,
                                         "alpha_cap": 6.0, "fusion_init": 0.8})
out = {}
if mode == "both":
    out["first"] = train(data, first, cache, reuse_pretraining=False)["folds"]
    out["traces_first"] = len(traces)
    traces.clear()
compiles.update(hits=0, misses=0)
out["second"] = train(data, second, cache, reuse_pretraining=False)["folds"]
out["traces_second"] = len(traces)
out["compiles_second"] = compiles
print("RESULT " + json.dumps(out))
"""


def _trials(backend: str, data: Path, cache: Path, mode: str) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", _TRIALS, str(data), str(cache), mode], env=env, cwd=REPO,
                            capture_output=True, text=True, timeout=500)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_a_second_trial_of_an_architecture_traces_nothing_and_equals_a_fresh_process(
    backend: str, demo_folder: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    worker = _trials(backend, demo_folder, cache, "both")  # a worker's first and second trial
    fresh = _trials(backend, demo_folder, cache, "second")  # the second trial alone, in a new process
    assert worker["traces_first"] > 0  # the counter sees traces: the first trial traced every step it ran
    assert worker["traces_second"] == 0
    assert worker["second"] == fresh["second"]  # every fold's QWK, stage curve summary and fusion weight
    assert worker["second"] != worker["first"]  # (the two trials do differ)
    if backend == "jax":
        # The new process compiled nothing: XLA's programs came from the cache folder the worker filled.
        assert fresh["compiles_second"]["hits"] > 0 and fresh["compiles_second"]["misses"] == 0
        assert list((cache / "xla").glob("jax-*-cpu-*"))


def test_value_fields_name_trainer_settings() -> None:
    """A setting outside VALUE_FIELDS is part of the graph key (a new one is safe by default); every name
    in it must be a setting, or a rename would silently move a graph-deciding field out of the key's reach."""
    from trainer.model._compiled import VALUE_FIELDS, graph_fields

    names = {f.name for f in fields(TrainConfig)}
    assert VALUE_FIELDS <= names
    assert {"backbone", "image_size", "dropout", "gamma", "unfreeze_fraction", "precision"} <= set(graph_fields())
