"""A Diagnosis: what a check found, in words a practitioner acts on, with the numbers behind it."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

SEVERITIES = ("info", "warning", "error")


@dataclass
class Diagnosis:
    code: str                    # stable public name, e.g. "lr_too_high"
    severity: str                # "info", "warning" or "error"
    message: str                 # one sentence
    stage: str = ""
    iteration: int = 0
    evidence: dict = field(default_factory=dict)  # the numbers behind the verdict
    fix: str = ""                # what to do about it
    applied: Optional[str] = None  # the fix the orchestrator applied itself, if any
    time: float = 0.0            # when it was recorded (time.time()): diagnoses are shown in this order

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def codes(diagnoses) -> tuple:
    """The codes of diagnoses (dicts, as on a stage), each once, in order."""
    return tuple(dict.fromkeys(d["code"] for d in diagnoses))


def record(stage, sinks, d: Diagnosis, iteration: int = 0) -> Diagnosis:
    """Put a Diagnosis on its stage (ladder.json) and show it everywhere (TensorBoard, console, report)."""
    d.stage = d.stage or stage.name
    d.iteration = d.iteration or iteration
    d.time = d.time or time.time()
    stage.diagnoses.append(d.to_dict())
    sinks.diagnosis(stage, d)
    return d
