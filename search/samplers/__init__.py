"""The sampler a study's workers use, picked by ``launch --sampler``."""

from search._lazy import lazy_exports

_EXPORTS = {
    "SAMPLERS": "search.samplers._factory",
    "make_sampler": "search.samplers._factory",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
