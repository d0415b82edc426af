"""Logging is a consumer: the engine emits events, each sink renders the ones it cares about.

Events (method names), in the order a stage sees them:
- stage_placed(ladder, stage, position, offset): an attempt is about to start, the `position`-th of the run
  (1 is the first), after `offset` iterations trained by the run's earlier attempts (the ladder-wide axis);
  `ladder` shows it running
- stage_started(stage, start_iteration): 0, or the iteration a resumed attempt continues from
- stage_ready(stage, problem, settings): its Problem is built and its TrainSettings fixed (the data can be shown)
- scalars, evaluated, histograms, diagnosis: as training goes
- before_checkpoint(stage, iteration): a mid-stage checkpoint is about to be saved (what a sink holds of the
  iterations through it goes to disk first: a resumed run does not log them again)
- stage_finished(stage, outcome), then decision(ladder, decisions); finished(...) once at the end.
A sink implements any subset.
"""
from __future__ import annotations

from typing import Any


class Sinks:
    """Fans each event out to every sink that has a method of that name."""

    def __init__(self, sinks: list[Any]):
        self.sinks = sinks

    def __getattr__(self, event: str):
        handlers = [getattr(s, event) for s in self.sinks if hasattr(s, event)]

        def emit(*args, **kwargs):
            for handle in handlers:
                handle(*args, **kwargs)
        setattr(self, event, emit)  # resolve each event once
        return emit

    def close(self) -> None:
        for s in self.sinks:
            if hasattr(s, "close"):
                s.close()
