"""The variants of the ``ours`` strategy that bench/pruning_variants.py replays, by round: each a
:class:`~search.pruners.SameStepPruner` setting and a fold race margin (None: no race). Names are kept as first
written: the result files and bench/README.md refer to them."""

from __future__ import annotations

from search.pruners.strategies import NEAR_BEST, RUNNING_MEAN

FUSION = ("stage1", "stage2")
#: name → (SameStepPruner settings, fold race margin or None for no race)
VARIANTS = {
    "same-step from fusion epoch 2, race (the v1 default)": ({"stages": FUSION, "min_epochs": 2}, 0.0),
    "same-step from fusion epoch 2, no race": ({"stages": FUSION, "min_epochs": 2}, None),
    "same-step from fusion epoch 1, no race": ({"stages": FUSION, "min_epochs": 1}, None),
    "same-step from fusion epoch 1, race with margin 0.02": ({"stages": FUSION, "min_epochs": 1}, 0.02),
    "same-step from fusion epoch 1, race with margin 0.05": ({"stages": FUSION, "min_epochs": 1}, 0.05),
    "same-step from fusion epoch 1, 3 startup trials, no race": (
        {"stages": FUSION, "min_epochs": 1, "n_startup_trials": 3}, None),
    # per="fold": the best over the fold's fusion epochs so far, the value the fold reports
    "fold best from fusion epoch 1, no race": ({"stages": FUSION, "min_epochs": 1, "per": "fold"}, None),
    "fold best from fusion epoch 2, no race": ({"stages": FUSION, "min_epochs": 2, "per": "fold"}, None),
    "fold best from fusion epoch 1, race with margin 0.02": ({"stages": FUSION, "min_epochs": 1, "per": "fold"}, 0.02),
    "fold best from fusion epoch 1, race with margin 0.05": ({"stages": FUSION, "min_epochs": 1, "per": "fold"}, 0.05),
    "fold best from fusion epoch 1, 33rd percentile, no race": (
        {"stages": FUSION, "min_epochs": 1, "per": "fold", "percentile": 33.0}, None),
    "fold best from fusion epoch 1, 40th percentile, no race": (
        {"stages": FUSION, "min_epochs": 1, "per": "fold", "percentile": 40.0}, None),
    "fold best from fusion epoch 1, 25th percentile, no race": (
        {"stages": FUSION, "min_epochs": 1, "per": "fold", "percentile": 25.0}, None),
    "fold best from fusion epoch 1, 33rd percentile, race with margin 0.02": (
        {"stages": FUSION, "min_epochs": 1, "per": "fold", "percentile": 33.0}, 0.02),
    # per="trial": the mean of the finished folds' bests and this fold's best so far (added after seed 1)
    # RUNNING_MEAN: what `--pruner running-mean` (the default, chosen here) runs, so its row is the default's
    "trial mean from fusion epoch 1, no race": ({**RUNNING_MEAN, "percentile": 50.0}, None),
    "trial mean from fusion epoch 1, 33rd percentile, no race": (RUNNING_MEAN, None),
    "trial mean from fusion epoch 1, race with margin 0.02": ({**RUNNING_MEAN, "percentile": 50.0}, 0.02),
    # percentile per fold: a mean over more folds says more about the final (added after seed 2)
    "trial mean from fusion epoch 1, percentiles 33/50/50 by fold, no race": (
        {**RUNNING_MEAN, "percentile": (33.0, 50.0, 50.0)}, None),
    "trial mean from fusion epoch 1, percentiles 33/40/50 by fold, no race": (
        {**RUNNING_MEAN, "percentile": (33.0, 40.0, 50.0)}, None),
    "trial mean from fusion epoch 1, percentiles 33/50/67 by fold, no race": (
        {**RUNNING_MEAN, "percentile": (33.0, 50.0, 67.0)}, None),
    "trial mean from fusion epoch 1, percentiles 25/50/50 by fold, no race": (
        {**RUNNING_MEAN, "percentile": (25.0, 50.0, 50.0)}, None),
    # fewer complete trials before the first prune: every ordering pays five whole trials (~27 epochs each
    # with the store, more while it is cold) before its first prune (added after seed 3)
    "trial mean from fusion epoch 1, 33rd percentile, 3 startup trials, no race": (
        {**RUNNING_MEAN, "n_startup_trials": 3}, None),
    "trial mean from fusion epoch 1, 33rd percentile, 2 startup trials, no race": (
        {**RUNNING_MEAN, "n_startup_trials": 2}, None),
    "trial mean from fusion epoch 1, 33rd percentile, 4 startup trials, no race": (
        {**RUNNING_MEAN, "n_startup_trials": 4}, None),
    "trial mean from fusion epoch 1, 25th percentile, 3 startup trials, no race": (
        {**RUNNING_MEAN, "percentile": 25.0, "n_startup_trials": 3}, None),
    "trial mean from fusion epoch 1, 25th percentile, 2 startup trials, no race": (
        {**RUNNING_MEAN, "percentile": 25.0, "n_startup_trials": 2}, None),
    # the percentile over every trial that reached the epoch, pruned ones too, and a margin below the best
    # completed trial at the same epoch (added after seed 4)
    "trial mean from fusion epoch 1, 33rd percentile of trials reached, no race": (
        {**RUNNING_MEAN, "reference": "reached"}, None),
    "trial mean from fusion epoch 1, 33rd percentile of completed, 0.04 below the best, no race": (
        {**RUNNING_MEAN, "best_margin": 0.04}, None),
    "trial mean from fusion epoch 1, 33rd percentile of trials reached, 0.04 below the best, no race": (
        {**RUNNING_MEAN, "reference": "reached", "best_margin": 0.04}, None),
    # NEAR_BEST: what `--pruner near-best` (the default, chosen here after seed 4) runs
    "trial mean from fusion epoch 1, 33rd percentile of 8 trials reached, 0.02 below the best, no race": (NEAR_BEST, None),
    "trial mean from fusion epoch 1, 33rd percentile of 8 trials reached, 0.03 below the best, no race": (
        {**RUNNING_MEAN, "reference": "reached", "n_startup_trials": 8, "best_margin": 0.03}, None),
    "trial mean from fusion epoch 1, 33rd percentile of 8 trials reached, 0.04 below the best, no race": (
        {**RUNNING_MEAN, "reference": "reached", "n_startup_trials": 8, "best_margin": 0.04}, None),
    # the percentile sooner or higher, or a narrower margin (added after seed 5)
    "trial mean from fusion epoch 1, 33rd percentile of 6 trials reached, 0.02 below the best, no race": (
        {**RUNNING_MEAN, "reference": "reached", "n_startup_trials": 6, "best_margin": 0.02}, None),
    "trial mean from fusion epoch 1, 40th percentile of 8 trials reached, 0.02 below the best, no race": (
        {**RUNNING_MEAN, "percentile": 40.0, "reference": "reached", "n_startup_trials": 8, "best_margin": 0.02}, None),
    "trial mean from fusion epoch 1, 40th percentile of 6 trials reached, 0.02 below the best, no race": (
        {**RUNNING_MEAN, "percentile": 40.0, "reference": "reached", "n_startup_trials": 6, "best_margin": 0.02}, None),
    "trial mean from fusion epoch 1, 33rd percentile of 8 trials reached, 0.015 below the best, no race": (
        {**RUNNING_MEAN, "reference": "reached", "n_startup_trials": 8, "best_margin": 0.015}, None),
    # the margin from the incumbent's value at the step, not the highest of all (added after seed 6)
    **{f"trial mean from fusion epoch 1, 33rd percentile of 8 trials reached, {margin:.2f} below the incumbent, "
       "no race": ({**NEAR_BEST, "best_margin": margin, "best": "incumbent"}, None) for margin in (0.01, 0.02, 0.03)},
}  # fmt: skip


def _candidate(fold0_margin: float, best: str = "max", first_epoch: int = 1, startup: int = 8,
               hold: float | None = None) -> tuple[str, tuple[dict, None]]:  # fmt: skip
    """A candidate of the ninth and tenth rounds: ``near-best`` with ``fold0_margin`` below the ``best`` ("max", the
    highest value at the step, or "incumbent") in fold 0 and 0.02 after it, judged from fusion epoch
    ``first_epoch``, the percentile from ``startup`` trials reached; ``hold`` None judges every epoch, a number
    holds judgement while the trial's value rose by more than that since the epoch before."""
    held = "" if hold is None else f", held while rising by > {hold:g}"
    margin = f"{fold0_margin:.2f} (fold 0) / 0.02" if fold0_margin != 0.02 else "0.02"
    label = "best" if best == "max" else best
    name = (f"trial mean from fusion epoch {first_epoch}, 33rd percentile of {startup} trials reached, {margin} below "
            f"the {label}{held}, no race")  # fmt: skip
    settings = {**NEAR_BEST, "min_epochs": first_epoch, "n_startup_trials": startup, "best_margin": (fold0_margin, 0.02),
                "best": best, "hold_rising": hold}  # fmt: skip
    return name, (settings, None)


#: The ninth round's candidates beside ``near-best`` (module docstring): a wider margin in fold 0, whose estimate is
#: one fold's early QWK (added after seed 7).
_NINTH_ROUND = dict(_candidate(m0, best) for best in ("max", "incumbent") for m0 in (0.03, 0.04))
#: The tenth round's new candidates (module docstring): judgement held while a trial still climbs, from the first
#: fusion epoch or the second, and the ninth round's choice with the percentile from six trials reached.
_TENTH_ROUND = dict(
    _candidate(fold0_margin, first_epoch=first_epoch, startup=startup, hold=hold)
    for first_epoch, startup, fold0_margin, hold in ((1, 8, 0.03, 0.005), (1, 8, 0.03, 0.0), (2, 8, 0.02, 0.0),
                                                     (2, 8, 0.02, 0.01), (1, 6, 0.03, None), (1, 6, 0.03, 0.005))
)  # fmt: skip
VARIANTS.update(_NINTH_ROUND)
VARIANTS.update(_TENTH_ROUND)
#: The candidates of the rounds that compare only some variants (``--round``), ``near-best`` first.
ROUNDS = {9: tuple(_NINTH_ROUND), 10: (*_NINTH_ROUND, *_TENTH_ROUND)}


def default_variant() -> str:
    """The variant that replays what ``launch`` runs by default (``near-best``)."""
    return next(name for name, (settings, margin) in VARIANTS.items() if settings == NEAR_BEST and margin is None)
