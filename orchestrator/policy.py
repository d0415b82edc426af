"""The one place where the ladder's next move is decided: advance, insert or stop."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

from .knobs import Knob, intermediate
from .ladder import Ladder, Stage

ADVANCE, INSERT, STOP = "advance", "insert", "stop"


@dataclass(frozen=True)
class Outcome:
    """How one attempt at a stage ended."""

    converged: bool
    iterations: int          # iterations trained (to convergence, if it converged)
    best: Optional[float]    # best value of the goal metric seen
    reason: str              # e.g. "goal met: val/acc 0.96 >= 0.95"


@dataclass(frozen=True)
class Decision:
    kind: str                # ADVANCE, INSERT or STOP
    stage: str               # the stage that was judged
    reason: str
    new_stage: Optional[str] = None  # INSERT: the name of the intermediate stage
    knobs: Optional[dict] = None     # INSERT: its knob values
    after: Optional[str] = None      # INSERT: the converged stage it sits after


def budget_for(stage: Stage, ladder: Ladder, budget: int, growth: float, min_budget: int) -> int:
    """First stages get `budget`; later ones growth x what their predecessors needed."""
    if stage.budget_override is not None:
        return stage.budget_override
    if not stage.after:
        return budget
    needed = max(ladder[p].iterations for p in stage.after)
    return max(min_budget, int(round(growth * needed)))


def decide(ladder: Ladder, stage: Stage, outcome: Outcome, knobs: Mapping[str, Knob],
           max_insertions: int) -> Decision:
    if outcome.converged:
        return Decision(ADVANCE, stage.name, outcome.reason)
    cause = stage.cause or {}
    if cause.get("root") and cause.get("severity") == "error":  # an easier stage would not fix a bug
        return Decision(STOP, stage.name, f"{outcome.reason}; the diagnostics found a bug ({cause['code']}): "
                        "fix it first, an intermediate stage would only hide it")
    if not stage.after:
        return Decision(STOP, stage.name, f"{outcome.reason}; it is a first stage, so there is no easier "
                        "stage to insert before it: make it easier or look for a bug (see diagnoses)")
    pred = ladder[stage.after[0]]
    edge = ladder.original_edge(pred.name, stage.name)
    done = ladder.insertions_on(edge)
    if done >= max_insertions:
        return Decision(STOP, stage.name, f"{outcome.reason}; already {done} intermediate stage(s) between "
                        f"{edge[0]} and {edge[1]} (ladder.max_insertions={max_insertions})")
    middle = intermediate(knobs, pred.knobs, stage.knobs)
    if middle in (pred.knobs, stage.knobs):
        return Decision(STOP, stage.name, f"{outcome.reason}; no setting of the knobs lies between "
                        f"{pred.name} {_fmt(pred.knobs)} and {stage.name} {_fmt(stage.knobs)}")
    name = f"{edge[1]}.half{done + 1}"
    changed = {k: v for k, v in middle.items() if v != stage.knobs[k]}
    return Decision(INSERT, stage.name, f"{outcome.reason}; inserting {name} halfway from {pred.name}: "
                    f"{_fmt(changed)}", new_stage=name, knobs=middle, after=pred.name)


def _fmt(knobs: Mapping) -> str:
    return "{" + ", ".join(f"{k}={_num(v)}" for k, v in knobs.items()) + "}"


def _num(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
