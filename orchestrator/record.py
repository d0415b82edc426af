"""ladder.json: the machine-readable state of a run, rewritten atomically after every change."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Optional

from . import files
from .errors import RunStateError
from .ladder import CONVERGED as STAGE_CONVERGED, FAILED, NAME_RULE, PENDING, RUNNING as STAGE_RUNNING, SKIPPED
from .ladder import Goal, Ladder, Stage, valid_name
from .policy import Decision

RUNNING, CONVERGED, STALLED = "running", "converged", "stalled"
STATUSES = (PENDING, STAGE_RUNNING, STAGE_CONVERGED, FAILED, SKIPPED)
OPT_INT, OPT_NUM, OPT_STR = (int, type(None)), (int, float, type(None)), (str, type(None))
# every field a stage needs on resume, with its JSON types
FIELDS = {"name": str, "after": list, "knobs": dict, "inserted": bool, "status": str, "budget": OPT_INT,
          "iterations": int, "attempts": int, "goal": dict, "best": OPT_NUM, "lr": OPT_NUM, "diagnoses": list,
          "edge": (list, type(None)), "budget_override": OPT_INT, "init_from": OPT_STR, "stage_lr": OPT_NUM,
          "batch_size": OPT_INT, "probe": (bool, type(None))}


def stage_dict(s: Stage) -> dict:
    return {"name": s.name, "after": list(s.after), "knobs": s.knobs, "inserted": s.inserted,
            "status": s.status, "budget": s.budget, "iterations": s.iterations, "attempts": s.attempts,
            "goal": asdict(s.goal), "best": s.best, "lr": s.lr_used, "diagnoses": s.diagnoses,
            "cause": s.cause,
            # what resuming needs to rebuild the stage exactly
            "edge": list(s.edge) if s.edge else None, "budget_override": s.budget_override,
            "init_from": s.init_from, "stage_lr": s.lr, "batch_size": s.batch_size, "probe": s.probe,
            "diagnoses_at_start": s.diagnoses_at_start, "search": s.search, "mix": s.mix,
            "fallback": s.fallback, "called": s.called,
            # a searched stage's trials: number, params, status (converged / failed / pruned), iterations, best,
            # diagnoses (codes); None when it was never searched
            "trials": s.trials}


def stage_from_dict(d: dict) -> Stage:
    return Stage(name=d["name"], goal=Goal(**d["goal"]), knobs=d["knobs"], after=d["after"],
                 budget_override=d["budget_override"], init_from=d["init_from"], lr=d["stage_lr"],
                 batch_size=d["batch_size"], probe=d["probe"], inserted=d["inserted"],
                 edge=tuple(d["edge"]) if d["edge"] else None, status=d["status"], budget=d["budget"],
                 iterations=d["iterations"], attempts=d["attempts"], best=d["best"], lr_used=d["lr"],
                 diagnoses=d["diagnoses"], cause=d.get("cause"), diagnoses_at_start=d.get("diagnoses_at_start"),
                 search=d.get("search"), trials=d.get("trials"), mix=d.get("mix", 0.0),
                 fallback=d.get("fallback", False), called=d.get("called", False))


class Record:
    """Owns ladder.json. The engine calls `write` after each decision and stage start."""

    def __init__(self, path: Path, task: str, seed: int):
        self.path, self.task, self.seed = path, task, seed
        self.decisions: list[dict] = []
        self.status = RUNNING

    def add(self, decision: Decision, iterations: int) -> None:
        """`iterations`: what the judged attempt trained (TensorBoard's ladder-wide axis sums them)."""
        d = {"stage": decision.stage, "kind": decision.kind, "reason": decision.reason}
        if decision.new_stage:
            d["new_stage"] = decision.new_stage
        if decision.lr is not None:
            d["lr"] = decision.lr
        if decision.batch_size is not None:
            d["batch_size"] = decision.batch_size
        if decision.restart:  # RETRY: trained again at `lr`; FALLBACK: the skipped stages trained now
            d["restart"] = list(decision.restart)
        d["iterations"] = iterations
        self.decisions.append(d)

    def write(self, ladder: Ladder) -> None:
        doc = {"task": self.task, "status": self.status, "seed": self.seed,
               "stages": [stage_dict(s) for s in ladder.order()], "decisions": self.decisions}
        if self.status == STALLED:  # the most likely cause of the last stage judged (failed, or stopped on a bug)
            doc["cause"] = next((s.cause for s in reversed(ladder.order()) if s.cause), None)
        files.write_text(self.path, json.dumps(doc, indent=2))


def load(path: Path) -> Optional[dict]:
    """The saved state, None when there is none; RunStateError (naming the file) when it is not valid."""
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RunStateError(f"not valid JSON ({str(e).splitlines()[0]}); {KEEP}", where=str(path)) from None
    except OSError as e:
        raise RunStateError(f"cannot read it: {e.strerror or e}", where=str(path)) from None
    problem = _check(doc)
    if problem:
        raise RunStateError(f"{problem}; {KEEP}", where=str(path))
    return doc


KEEP = "left as it is: fix or remove it, or resume in another hydra.run.dir"


def _check(doc) -> Optional[str]:
    """What is wrong with a ladder.json document, or None. Written by `Record.write`, read on resume."""
    if not isinstance(doc, dict):
        return "not a ladder.json (the document is not an object)"
    if doc.get("status") not in (RUNNING, CONVERGED, STALLED):
        return f"status: {doc.get('status')!r} is not running, converged or stalled"
    if not isinstance(doc.get("decisions"), list) or not all(isinstance(d, dict) for d in doc["decisions"]):
        return "decisions: not a list of decisions"
    stages = doc.get("stages")
    if not isinstance(stages, list) or not stages:
        return "stages: not a non-empty list"
    names = [s.get("name") if isinstance(s, dict) else None for s in stages]
    if len(set(map(str, names))) != len(names):
        return "stages: a name appears twice"
    for i, s in enumerate(stages):
        if not isinstance(s, dict):
            return f"stages[{i}]: not an object"
        missing = [k for k in FIELDS if k not in s]
        if missing:
            return f"stages[{i}]: missing {', '.join(missing)}"
        if not valid_name(s["name"]):
            return f"stages[{i}].name: {s['name']!r} is not a valid stage name ({NAME_RULE})"
        for key, types in FIELDS.items():
            if not isinstance(s[key], types) or (types is int and isinstance(s[key], bool)):
                return f"stages[{i}].{key}: {s[key]!r} has the wrong type"
        if s["status"] not in STATUSES:
            return f"stages[{i}].status: {s['status']!r} is not one of {', '.join(STATUSES)}"
        if any(p not in names for p in s["after"]):
            return f"stages[{i}].after: names a stage that is not in the ladder"
        if s["iterations"] < 0 or s["attempts"] < 0:
            return f"stages[{i}]: negative iterations or attempts"
        if not isinstance(s["goal"], dict) or set(s["goal"]) != {"metric", "target", "mode"}:
            return f"stages[{i}].goal: not a goal"
        trials = s.get("trials")
        if trials is not None and not (isinstance(trials, list) and all(isinstance(t, dict) for t in trials)):
            return f"stages[{i}].trials: not a list of trials"
    return None


def ladder_from(doc: dict, path: Path = Path("ladder.json")) -> Ladder:
    try:
        ladder = Ladder(stage_from_dict(d) for d in doc["stages"])
        ladder.order()  # a cycle fails here
    except Exception as e:
        raise RunStateError(f"cannot rebuild the ladder ({type(e).__name__}: {e}); {KEEP}", where=str(path)) from None
    return ladder
