"""Logging is a consumer: the engine emits events, each sink renders the ones it cares about.

Events (method names): stage_started, scalars, evaluated, histograms, diagnosis, stage_finished,
decision, finished. A sink implements any subset.
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
