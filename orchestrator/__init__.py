"""orchestrator: debug neural-network training by a ladder of difficulty stages.

From Python: `orchestrator.run(task, ladder=..., overrides=...)` runs a ladder and returns a Result;
`orchestrator.load(run_dir)` reads one back (see orchestrator/api.py). From a shell:
`python -m orchestrator +task=NAME`. Importing the package is cheap: torch loads when a run starts.
"""
from __future__ import annotations


def run(*args, **kwargs):
    from .api import run as _run

    return _run(*args, **kwargs)


run.__doc__ = "orchestrator.run(task, ladder=None, overrides=(), run_dir=None, config_dir=None, live=None) " \
    "-> Result: see orchestrator.api.run"


def load(run_dir):
    """The Result of a run directory: status, stages (iterations, best, goal, LR, diagnoses, checkpoints),
    decisions."""
    from .result import Result

    return Result.load(run_dir)
