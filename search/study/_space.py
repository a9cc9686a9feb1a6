"""The search space: which trainer knobs a trial samples, and from where.

The default samples the knobs that decide collapse or success (docs/design.md, the search). A ``--space`` TOML file
changes it, one table or value per knob::

    [alpha_cap]                 # narrow a default knob
    low = 1.5
    high = 6

    [gamma]                     # add a knob: any TrainConfig field
    choices = [0.0, 1.0, 2.0]

    [batch_size]
    low = 16
    high = 64
    step = 16

    lr_stage2 = 1e-4            # fix a knob: no longer sampled
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from trainer import ConfigError
from trainer.config import LAYOUT_KEYS, TrainConfig, apply


@dataclass(frozen=True)
class Knob:
    """One sampled trainer setting: a float/int range (optionally log-scaled) or a list of choices."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple | None = None

    def suggest(self, trial) -> Any:
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        if type(TrainConfig.__dataclass_fields__[self.name].default) is int:  # an int setting samples ints
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log, step=self.step)

    def contains(self, value: Any) -> bool:
        if self.choices is not None:
            return value in self.choices
        return isinstance(value, int | float) and not isinstance(value, bool) and self.low <= value <= self.high


DEFAULT_KNOBS = (
    Knob("alpha_cap", 1.0, 10.0),
    # A few values, not a range, so that trials share pre-trainings (trainer.stages._store): pre-training's
    # QWK rises with its LR (Spearman 0.67–0.75 on the recorded curves: ~0.02–0.05 below 1e-4, 0.10–0.13
    # from 1e-4 up) while the final value barely depends on it (−0.22…+0.10); one value a decade from the
    # research's fixed 1e-5 to 1e-3 spans that, and above 1e-3 one table's finals fall (median 0.35).
    Knob("lr_pretrain", choices=(1e-5, 1e-4, 1e-3)),
    Knob("lr_stage1", 1e-6, 1e-2, log=True),
    Knob("lr_stage2", 1e-6, 1e-2, log=True),
    Knob("fusion_init", 0.3, 0.9),
)


@dataclass(frozen=True)
class SearchSpace:
    knobs: tuple[Knob, ...] = DEFAULT_KNOBS
    fixed: dict[str, Any] = field(default_factory=dict)  # knobs pinned by the space file

    @property
    def names(self) -> list[str]:
        return [k.name for k in self.knobs]

    def knob(self, name: str) -> Knob | None:
        return next((k for k in self.knobs if k.name == name), None)

    def check(self, base: TrainConfig, label: str) -> None:
        """Every value a trial could draw must be a valid setting: both ends of each range, every choice."""
        for knob in self.knobs:
            for value in knob.choices if knob.choices is not None else (knob.low, knob.high):
                apply(base, {knob.name: value}, f"{label} [{knob.name}]")

    def sample(self, trial, skip: set[str] = frozenset()) -> dict[str, Any]:
        """Suggest every knob not in ``skip`` (an enqueued trial may pin knobs to values outside the space)."""
        return {k.name: k.suggest(trial) for k in self.knobs if k.name not in skip}

    def to_dict(self) -> dict:
        return {
            "knobs": [{k: v for k, v in asdict(knob).items() if v is not None} for knob in self.knobs],
            "fixed": self.fixed,
        }

    @classmethod
    def from_dict(cls, data: dict) -> SearchSpace:
        knobs = tuple(Knob(**{**k, "choices": tuple(k["choices"]) if "choices" in k else None}) for k in data["knobs"])
        return cls(knobs, dict(data.get("fixed", {})))


def load_space(path: Path | None) -> SearchSpace:
    """The default space changed by a TOML file (see the module docstring)."""
    if path is None:
        return SearchSpace()
    path = Path(path)
    try:
        table = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"--space {path}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    knobs = {k.name: k for k in DEFAULT_KNOBS}
    fixed: dict[str, Any] = {}
    known = {f.name for f in fields(TrainConfig)}
    for name, spec in table.items():
        if name not in known:
            raise ConfigError(f"{path}: unknown trainer setting {name!r}")
        if name in LAYOUT_KEYS:
            raise ConfigError(
                f"{path}: {name} cannot be searched or pinned by a space file: it fixes what a step means "
                "(set it for the whole study with --set)"
            )
        if not isinstance(spec, dict):
            knobs.pop(name, None)
            fixed[name] = spec
            continue
        unknown = set(spec) - {"low", "high", "log", "step", "choices"}
        if unknown:
            raise ConfigError(
                f"{path}: [{name}] has unknown key(s) {', '.join(sorted(unknown))} (use low, high, log, step or choices)"
            )
        if "choices" in spec:
            if not isinstance(spec["choices"], list) or not spec["choices"]:
                raise ConfigError(f"{path}: [{name}] choices must be a non-empty list")
            knob = Knob(name, choices=tuple(spec["choices"]))
        else:
            base = knobs.get(name)
            low, high = spec.get("low", base.low if base else None), spec.get("high", base.high if base else None)
            if low is None or high is None or not low <= high:
                raise ConfigError(f"{path}: [{name}] needs low <= high")
            knob = Knob(
                name, float(low), float(high), bool(spec.get("log", base.log if base else False)), spec.get("step")
            )
            if knob.log and knob.low <= 0:
                raise ConfigError(f"{path}: [{name}] a log range needs low > 0")
        knobs[name] = knob
    return SearchSpace(tuple(knobs.values()), fixed)
