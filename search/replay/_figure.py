"""What ``dfu-search replay`` writes: ``replay.json`` and the anytime plot of best QWK against epochs spent."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from search.replay._simulate import WITHIN


def write_outputs(document: dict, out: Path) -> Path:
    """``out/replay.json`` (without the raw anytime points) and ``out/anytime.png``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    public = {k: v for k, v in document.items() if not k.startswith("_")}
    (out / "replay.json").write_text(json.dumps(public, indent=1) + "\n")
    anytime_figure(document).savefig(out / "anytime.png", dpi=110)
    return out / "replay.json"


def anytime_figure(document: dict):
    """Best-so-far QWK against cumulative epochs: mean and 10–90 % band over orderings, per strategy."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 5.5), layout="constrained")
    axes = figure.subplots()
    grid = np.linspace(0, document["epochs_all"], 400)
    floor = document["median_recorded"] - 0.1
    for name, runs in document["_anytime"].items():
        curves = np.array([_step_function(cumulative, best, grid, floor) for cumulative, best in runs])
        mean = curves.mean(axis=0)
        low, high = np.percentile(curves, [10, 90], axis=0)
        style = {"linestyle": "--" if name == "oracle" else ":", "color": "black"} if name.startswith("oracle") else {}
        (line,) = axes.plot(grid, mean, label=name, linewidth=2 if name == document.get("default") else 1.3, **style)
        axes.fill_between(grid, low, high, color=line.get_color(), alpha=0.12)
    axes.axhline(document["best_recorded"] - WITHIN, color="grey", linewidth=0.8, linestyle=":")
    axes.set_xlabel("epochs trained (cumulative)")
    axes.set_ylabel("best QWK so far")
    axes.set_ylim(floor, document["best_recorded"] + 0.02)
    axes.set_title(
        f"{document['study']}: {document['trials']} recorded trials, {document['orderings']} orderings "
        "(mean, 10–90 % band; dotted: best − 0.01)"
    )
    axes.legend(loc="lower right")
    return figure


def _step_function(cumulative: list[int], best: list[float], grid: np.ndarray, floor: float) -> np.ndarray:
    values = np.full(len(grid), floor)
    for spent, value in zip(cumulative, best):
        if np.isfinite(value):
            values[grid >= spent] = max(value, floor)
    return values
