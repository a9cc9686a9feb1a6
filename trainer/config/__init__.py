"""What a run is asked to do: :class:`TrainConfig` names every knob; presets, TOML files and ``key=value``
overrides build it (later wins), and :func:`validate` says which setting is wrong before anything trains."""

from trainer._lazy import lazy_exports

_EXPORTS = {
    name: "trainer.config._config"
    for name in (
        "LAYOUT_KEYS",
        "RFSettings",
        "STAGES",
        "StepLayout",
        "TrainConfig",
        "apply",
        "load_config",
        "parse_assignment",
        "preset_names",
        "read_toml",
        "validate",
    )
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
