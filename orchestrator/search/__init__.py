"""Tuning: a stage that cannot be learned is searched (random trials of its settings) instead of stalling.

The engine calls three functions, and nothing else of this package:
- `validate(cfg)`: at startup; ConfigError for a bad `search.*` value or a stage's `search:`
- `run(ctx, stage, decision)`: apply a `search` decision: record it, run the trials, make the winner the
  stage's result; returns (outcome, the decision on that outcome)
- `resume(ctx, stage)`: before a stage runs: the outcome of a search a kill interrupted (continued), else None

See README "Tuning": the default space, the settings, and pointing it at a Ray cluster.
"""
from __future__ import annotations

from .driver import resume, run, validate  # noqa: F401
