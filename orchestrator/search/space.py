"""What a search varies: `search.space` parsed into distributions, the default space, and a trial's
settings applied to a copy of the run's config.

A space maps config keys to one distribution each, written `{log_uniform: [low, high]}`,
`{uniform: [low, high]}`, `{int: [low, high]}` or `{choice: [a, b, ...]}`. Keys are `optim.*` values
(`optim.lr`, `optim.init_scale`, `optim.batch_size`, `optim.name`, `optim.clip_norm`, `optim.decay.after`,
...) or `task.*` constructor arguments (`task.hidden`): every trial builds its own task. Nested
spelling works too (`space: {optim: {lr: {log_uniform: [1e-4, 1e-1]}}}`), which is what Hydra makes of
`search.space.optim.lr=...` on the command line.
"""
from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from ..config import OptimConfig, RunConfig
from ..errors import ConfigError

KINDS = ("log_uniform", "uniform", "int", "choice")
INIT_SCALE_RANGE = (0.5, 2.0)   # the method: tune the initialisation together with the LR
NO_THRESHOLD_SPAN = 30.0        # no LR probe ran: LR log-uniform over [lr / 30, lr * 30]
# below the NaN threshold: the method's "train 1-10x below it" holds for plain nets, but a normalised net
# under Adam stays finite far above its best LR (a tiny ViT: threshold 0.33, trains at ~4e-3)
BELOW_THRESHOLD = 100.0


@dataclass(frozen=True)
class Dimension:
    key: str      # e.g. "optim.lr" or "task.hidden"
    kind: str     # one of KINDS
    values: tuple  # (low, high), or the choices

    def suggest(self, trial) -> Any:
        """This dimension's value for an Optuna trial (ask-and-tell)."""
        if self.kind == "choice":
            return trial.suggest_categorical(self.key, list(self.values))
        low, high = self.values
        if self.kind == "int":
            return trial.suggest_int(self.key, int(low), int(high))
        return trial.suggest_float(self.key, float(low), float(high), log=self.kind == "log_uniform")

    def describe(self) -> str:
        if self.kind == "choice":
            return f"{self.key} in {list(self.values)}"
        return f"{self.key} {self.kind.replace('_', '-')} [{self.values[0]:.3g}, {self.values[1]:.3g}]"


def parse(space: Mapping, where: str = "", key: str = "search.space") -> list[Dimension]:
    """The dimensions of a configured space; ConfigError naming the key for anything unusable."""
    dims = []
    for name, spec in _flatten(space or {}):
        at = f"{key}.{name}"
        _check_key(name, at, where)
        if not isinstance(spec, Mapping) or len(spec) != 1 or next(iter(spec)) not in KINDS:
            raise ConfigError(f"expected one of {{{', '.join(f'{k}: ...' for k in KINDS)}}}, got {spec!r}",
                              key=at, where=where)
        kind, values = next(iter(spec.items()))
        values = tuple(values) if isinstance(values, (list, tuple)) else (values,)
        if kind == "choice":
            if not values:
                raise ConfigError("choice needs at least one value", key=at, where=where)
        else:
            if len(values) != 2 or not all(_number(v) for v in values) or not values[0] < values[1]:
                raise ConfigError(f"{kind} needs [low, high] with low < high, got {list(values)}", key=at,
                                  where=where)
            if kind == "log_uniform" and values[0] <= 0:
                raise ConfigError(f"log_uniform needs low > 0, got {values[0]}", key=at, where=where)
        dims.append(Dimension(name, kind, values))
    return dims


def default(threshold: Optional[float], lr: float, init: bool = True) -> list[Dimension]:
    """LR log-uniform over [threshold/100, threshold] (the best LRs lie below the NaN threshold the LR probe
    found: 1-10x for plain nets, more for normalised ones), jointly with optim.init_scale log-uniform over
    [0.5, 2] unless `init` is False (the diagnostics name the LR alone: a changed initialisation would be a
    second, unasked change that the later stages inherit)."""
    low, high = (threshold / BELOW_THRESHOLD, threshold) if threshold \
        else (lr / NO_THRESHOLD_SPAN, lr * NO_THRESHOLD_SPAN)
    return [Dimension("optim.lr", "log_uniform", (low, high))] + \
        ([Dimension("optim.init_scale", "log_uniform", INIT_SCALE_RANGE)] if init else [])


def apply(cfg: RunConfig, params: Mapping[str, Any]) -> RunConfig:
    """A copy of the run's config with a trial's settings in it (the original is untouched)."""
    cfg = copy.deepcopy(cfg)
    for key, value in params.items():
        head, *rest = key.split(".")
        if head == "task":
            cfg.task = {**cfg.task, rest[0]: value}
            continue
        node = cfg.optim
        for part in rest[:-1]:
            node = getattr(node, part)
        setattr(node, rest[-1], value)
    return cfg


def _flatten(space: Mapping, prefix: str = ""):
    """(dotted key, distribution) pairs of a flat or nested space."""
    for name, spec in space.items():
        key = f"{prefix}{name}"
        if isinstance(spec, Mapping) and not (len(spec) == 1 and next(iter(spec)) in KINDS) \
                and all(isinstance(v, Mapping) for v in spec.values()) and spec:
            yield from _flatten(spec, key + ".")
        else:
            yield key, spec


def _check_key(name: str, at: str, where: str) -> None:
    head, *rest = name.split(".")
    if head == "task" and len(rest) == 1 and rest[0] != "_target_":
        return
    if head == "optim" and rest and _is_setting(OptimConfig(), rest):
        return
    raise ConfigError(f"{name!r} cannot be searched: use an optim.* value (lr, init_scale, batch_size, name, "
                      "clip_norm, decay.after, ...) or a task.* constructor argument", key=at, where=where)


def _is_setting(node, parts: list) -> bool:
    """Whether optim.<parts> names a value (not a section such as optim.decay)."""
    for part in parts:
        if not dataclasses.is_dataclass(node) or part not in {f.name for f in dataclasses.fields(node)}:
            return False
        node = getattr(node, part)
    return not dataclasses.is_dataclass(node)


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
