"""What a run is worth to a sweeper: the float `main` returns under -m (Hydra's Optuna, Nevergrad, Ax).

`iterations`: total iterations to converge (lower is better), STALLED_PENALTY more when the ladder
stalled, so a sweeper minimising it prefers any converged run; `goal`: the best value of the
last stage's goal metric (a sweeper maximises or minimises it as the goal's mode says); `exit_code`:
0 converged, 3 stalled (the old behaviour).
"""
from __future__ import annotations

import math

from .errors import ConfigError

OBJECTIVES = ("iterations", "goal", "exit_code")
STALLED_PENALTY = 1e6  # more iterations than any budget a ladder is given


def check(objective: str, where: str) -> None:
    if objective not in OBJECTIVES:
        raise ConfigError(f"unknown objective {objective!r} (expected {', '.join(OBJECTIVES)})", key="objective",
                          where=where)


def value(objective: str, doc: dict) -> float:
    """The objective of a finished run, from its ladder.json document."""
    converged = doc["status"] == "converged"
    if objective == "exit_code":
        return 0.0 if converged else 3.0
    if objective == "goal":
        best = doc["stages"][-1]["best"] if doc["stages"] else None
        return float(best) if best is not None else math.nan
    spent = float(sum(s["iterations"] for s in doc["stages"]))
    return spent if converged else spent + STALLED_PENALTY
