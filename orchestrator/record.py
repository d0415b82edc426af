"""ladder.json: the machine-readable state of a run, rewritten atomically after every change."""
from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Optional

from .ladder import Goal, Ladder, Stage
from .policy import Decision

RUNNING, CONVERGED, STALLED = "running", "converged", "stalled"


def stage_dict(s: Stage) -> dict:
    return {"name": s.name, "after": list(s.after), "knobs": s.knobs, "inserted": s.inserted,
            "status": s.status, "budget": s.budget, "iterations": s.iterations, "attempts": s.attempts,
            "goal": asdict(s.goal), "best": s.best, "lr": s.lr_used, "diagnoses": s.diagnoses,
            "cause": s.cause,
            # what resuming needs to rebuild the stage exactly
            "edge": list(s.edge) if s.edge else None, "budget_override": s.budget_override,
            "init_from": s.init_from, "stage_lr": s.lr, "batch_size": s.batch_size, "probe": s.probe}


def stage_from_dict(d: dict) -> Stage:
    return Stage(name=d["name"], goal=Goal(**d["goal"]), knobs=d["knobs"], after=d["after"],
                 budget_override=d["budget_override"], init_from=d["init_from"], lr=d["stage_lr"],
                 batch_size=d["batch_size"], probe=d["probe"], inserted=d["inserted"],
                 edge=tuple(d["edge"]) if d["edge"] else None, status=d["status"], budget=d["budget"],
                 iterations=d["iterations"], attempts=d["attempts"], best=d["best"], lr_used=d["lr"],
                 diagnoses=d["diagnoses"], cause=d.get("cause"))


class Record:
    """Owns ladder.json. The engine calls `write` after each decision and stage start."""

    def __init__(self, path: Path, task: str, seed: int):
        self.path, self.task, self.seed = path, task, seed
        self.decisions: list[dict] = []
        self.status = RUNNING

    def add(self, decision: Decision) -> None:
        d = {"stage": decision.stage, "kind": decision.kind, "reason": decision.reason}
        if decision.new_stage:
            d["new_stage"] = decision.new_stage
        self.decisions.append(d)

    def write(self, ladder: Ladder) -> None:
        doc = {"task": self.task, "status": self.status, "seed": self.seed,
               "stages": [stage_dict(s) for s in ladder.order()], "decisions": self.decisions}
        if self.status == STALLED:  # the most likely cause of the last stage that failed
            doc["cause"] = next((s.cause for s in reversed(ladder.order())
                                if s.cause and s.status == "failed"), None)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(doc, indent=2))
        os.replace(tmp, self.path)


def load(path: Path) -> Optional[dict]:
    return json.loads(path.read_text()) if path.exists() else None


def ladder_from(doc: dict) -> Ladder:
    return Ladder(stage_from_dict(d) for d in doc["stages"])
