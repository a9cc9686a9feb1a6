"""The sampler of a study's workers, picked by ``launch --sampler`` and kept in the study settings."""

from __future__ import annotations

import optuna

SAMPLERS = ("tpe", "random")


def make_sampler(name: str, seed: int, budget: int) -> optuna.samplers.BaseSampler:
    """TPE (the default; ``constant_liar`` keeps parallel workers from sampling next to each other's
    running trials), or random search, whose trials are an unbiased sample of the space (for ``replay``)."""
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, constant_liar=True, n_startup_trials=max(4, min(10, budget // 3)))
