"""Diagnostics: the debugging method's advice as checks that name the bug.

The engine calls three functions, and nothing else of this package:
- `monitors_for(cfg, stage, problem)`: Monitors watching a stage's training (see trainer.Monitor)
- `before_stage(cfg, stage, build, settings, sinks)`: e.g. the LR probe; returns the LR to train at
- `after_failure(cfg, run, outcome)`: checks that separate a bug from a hard problem
"""
from __future__ import annotations

from typing import Any, Callable, Optional


def monitors_for(cfg: Any, stage, problem) -> list:
    return []


def before_stage(cfg: Any, stage, build: Callable, settings, sinks) -> Optional[float]:
    return None


def after_failure(cfg: Any, run, outcome) -> list:
    return []
