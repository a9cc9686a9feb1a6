"""``dfu-search report``: a study's plots as HTML (optuna.visualization, plotly) and PNG summaries.

Writes ``history``, ``intermediate`` (every trial's per-step QWK; pruned trials end early),
``importances`` and ``parallel`` as ``.html`` and ``.png``, the ``collapse-map.png`` (alpha cap × pre-training
LR, each trial coloured by its prune rule: where in the knob space training collapses), plus ``index.html`` linking them (with what the
best trial will score on new patients: the selection estimate) and ``prune-summary.csv``. A plot that cannot be drawn yet (importances need two complete trials with
different parameters) is listed in the index with the reason instead of failing the report.
"""

from __future__ import annotations

import html
import logging
import warnings
from collections.abc import Callable
from pathlib import Path

from search.query import SelectionEstimate, StudyView

log = logging.getLogger(__name__)


def _plots() -> dict[str, tuple[str, Callable, Callable]]:
    import optuna.visualization as interactive
    import optuna.visualization.matplotlib as static

    return {
        "history": ("Optimization history", interactive.plot_optimization_history, static.plot_optimization_history),
        "intermediate": (
            "Validation QWK per global step (pruned trials stop early)",
            interactive.plot_intermediate_values,
            static.plot_intermediate_values,
        ),
        "importances": ("Parameter importances", interactive.plot_param_importances, static.plot_param_importances),
        "parallel": ("Parallel coordinates", interactive.plot_parallel_coordinate, static.plot_parallel_coordinate),
    }


def write_report(view: StudyView, out: Path) -> dict[str, str]:
    """Write the report into ``out``; returns {plot: "ok" or why it was skipped, "new patients": the selection
    estimate (search.query._selection)}."""
    import matplotlib

    from trainer import UserError

    trials = view.trials()
    if not any(t.state.name in ("COMPLETE", "PRUNED") for t in trials):
        raise UserError(f"study {view.name!r} has no complete or pruned trial yet: nothing to plot, {out} not written")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna's experimental-API and few-trials notes; the index says what's skipped
        outcome = _draw(view, out, plt, has_complete=any(t.state.name == "COMPLETE" for t in trials))
    outcome["collapse-map"] = _collapse_map(view, out)
    prune_summary = view.prune_summary()
    prune_summary.to_csv(out / "prune-summary.csv")
    estimate = view.selection_estimate(trials)
    (out / "index.html").write_text(_index(view, trials, outcome, prune_summary, estimate))
    outcome["new patients"] = "; ".join(estimate.describe()) if estimate else "no out-of-fold predictions: no estimate"
    return outcome


def _draw(view: StudyView, out: Path, plt, has_complete: bool) -> dict[str, str]:
    outcome = {}
    for key, (_title, interactive, static) in _plots().items():
        if key != "intermediate" and not has_complete:
            outcome[key] = "skipped: no complete trial yet"
            continue
        try:
            interactive(view.study).write_html(out / f"{key}.html", include_plotlyjs="directory")
            axes = static(view.study)
            figure = getattr(axes, "figure", None) or axes.flat[0].figure  # parallel coordinates: an array
            figure.set_size_inches(9, 5.5)
            figure.savefig(out / f"{key}.png", dpi=90, bbox_inches="tight")
            plt.close(figure)
            outcome[key] = "ok"
        except Exception as exc:  # noqa: BLE001 (e.g. too few trials for importances)
            outcome[key] = f"skipped: {exc}"
            log.info("%s: %s", key, outcome[key])
        finally:
            plt.close("all")
    return outcome


def _collapse_map(view: StudyView, out: Path) -> str:
    """alpha_cap × lr_pretrain coloured by prune rule: where in the knob space trials collapsed."""
    from search.visualization._plots import collapse_map_figure, save_png

    frame = view.trials_frame()
    missing = [k for k in ("alpha_cap", "lr_pretrain") if k not in frame or frame[k].isna().all()]
    if missing:
        return f"skipped: the study does not vary {' and '.join(missing)}"
    if not frame["state"].isin(["COMPLETE", "PRUNED"]).any():
        return "skipped: no finished trial yet"
    save_png(collapse_map_figure(frame), out / "collapse-map.png")
    return "ok"


def _index(
    view: StudyView, trials: list, outcome: dict[str, str], prune_summary, estimate: SelectionEstimate | None
) -> str:
    counts = view.trials_frame(trials)["state"].value_counts().to_dict()
    lines = [
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(view.name)}</title>",
        f"<h1>Study {html.escape(view.name)}</h1>",
        "<p>" + ", ".join(f"{state.lower()} {n}" for state, n in sorted(counts.items())) + "; "
        f"epochs pruning avoided (against each trial's maximum): {view.epochs_saved(trials)}; "
        f"pre-training epochs the store saved (loaded, not trained): {view.epochs_from_store(trials)}</p>",
    ]
    lines.append("<h2>What the best trial will score on new patients</h2>")
    if estimate is None:
        lines.append("<p>No estimate: no complete trial kept out-of-fold predictions.</p>")
    else:
        lines += [f"<p>{html.escape(line)}</p>" for line in estimate.describe()]
    for key, (title, _, _) in _plots().items():
        if outcome[key] == "ok":
            lines.append(f"<h2>{title}</h2><a href='{key}.html'><img src='{key}.png' width='800'></a>")
        else:
            lines.append(f"<h2>{title}</h2><p>{html.escape(outcome[key])}</p>")
    if outcome["collapse-map"] == "ok":
        lines.append(
            "<h2>Collapse map: alpha cap × pre-training LR, by prune rule</h2><img src='collapse-map.png' width='800'>"
        )
    else:
        lines.append(f"<h2>Collapse map</h2><p>{html.escape(outcome['collapse-map'])}</p>")
    lines.append("<h2>Pruned trials by rule and stage</h2>" + prune_summary.to_html())
    return "\n".join(lines) + "\n"
