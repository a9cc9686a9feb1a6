"""The sampler a study's workers use, picked by ``launch --sampler``."""

from search.samplers._factory import SAMPLERS, make_sampler

__all__ = ["SAMPLERS", "make_sampler"]
