"""Sinks a user adds by `_target_` (log.sinks): an MLflow or W&B logger, the built-in CSV sink.

A sink is any object with some of the event methods of orchestrator/sinks.py (stage_started,
scalars, evaluated, histograms, diagnosis, stage_finished, decision, finished, close). Its class is
called with its arguments from the config, plus `run_dir=` when it takes one.
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from .errors import ConfigError


def _spec(entry: Any, i: int, where: str) -> tuple[str, dict]:
    if not isinstance(entry, dict) or not entry.get("_target_"):
        raise ConfigError(f"a sink is {{_target_: module.Class, ...its arguments}}, got {entry!r}",
                          key=f"log.sinks[{i}]", where=where)
    args = {k: v for k, v in entry.items() if k != "_target_"}
    return entry["_target_"], args


def check(entries: list, where: str) -> None:
    from .optim import importable

    for i, entry in enumerate(entries or []):
        target, _ = _spec(entry, i, where)
        importable(target, f"log.sinks[{i}]._target_", where)


def build(entries: list, run_dir: Path) -> list:
    from .optim import importable

    sinks = []
    for i, entry in enumerate(entries or []):
        target, args = _spec(entry, i, "")
        cls = importable(target, f"log.sinks[{i}]._target_")
        try:
            takes_run_dir = "run_dir" in inspect.signature(cls).parameters
        except (TypeError, ValueError):
            takes_run_dir = False
        sinks.append(cls(**args, run_dir=run_dir) if takes_run_dir else cls(**args))
    return sinks
