"""What a run produced, as Python objects: returned by orchestrator.run, loaded back from any run directory.

    result = orchestrator.load("outputs/2026-11-28/13-05-00")
    result.status, result["full"].best, result["full"].checkpoints["final"]
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from .errors import RunStateError


@dataclass
class StageResult:
    name: str
    status: str                 # converged, failed, running or pending
    iterations: int             # spent in its last attempt
    budget: Optional[int]
    best: Optional[float]       # the best value of its goal metric
    goal: dict                  # {metric, target, mode}
    lr: Optional[float]         # the LR it trained at (after the LR probe)
    knobs: dict
    after: list
    inserted: bool              # put in by the orchestrator between two of your stages
    attempts: int
    diagnoses: list             # each a dict: code, severity, message, evidence, fix, ...
    cause: Optional[dict]       # the most likely cause, when it failed
    checkpoints: dict           # "final" (what later stages warm-start from), "last" (to resume): paths

    @property
    def converged(self) -> bool:
        return self.status == "converged"


@dataclass
class Result:
    run_dir: Path
    task: str
    status: str                 # converged, stalled or running (interrupted)
    seed: Optional[int]
    stages: list = field(default_factory=list)     # StageResult, in run order
    decisions: list = field(default_factory=list)  # each a dict: stage, kind (advance/retry/insert/search/stop), reason
    cause: Optional[dict] = None                   # a stalled ladder's most likely cause

    @property
    def converged(self) -> bool:
        return self.status == "converged"

    @property
    def exit_code(self) -> int:
        """What the CLI exits with: 0 converged, 3 stalled (1 for a run that did not finish)."""
        return {"converged": 0, "stalled": 3}.get(self.status, 1)

    @property
    def diagnoses(self) -> list:
        return [d for s in self.stages for d in s.diagnoses]

    def __getitem__(self, name: str) -> StageResult:
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(f"no stage {name!r} (the stages: {', '.join(s.name for s in self.stages)})")

    def __str__(self) -> str:
        lines = [f"{self.task}: {self.status} ({self.run_dir})"]
        for s in self.stages:
            best = "-" if s.best is None else f"{s.best:.4g}"
            sign = ">=" if s.goal.get("mode") == "max" else "<="
            lines.append(f"  {s.name:<20} {s.status:<10} {s.iterations:>6} it  {s.goal.get('metric')} {best} "
                         f"(goal {sign} {s.goal.get('target')})" + ("  [inserted]" if s.inserted else ""))
        return "\n".join(lines)

    @classmethod
    def load(cls, run_dir) -> "Result":
        """The result saved in run_dir/ladder.json; RunStateError (one line) when there is none or it is damaged."""
        from . import record

        run_dir = Path(run_dir)
        doc = record.load(run_dir / "ladder.json")
        if doc is None:
            raise RunStateError("no ladder.json: not a run directory (or the run was refused before it began)",
                                where=str(run_dir))
        return cls.from_doc(doc, run_dir)

    @classmethod
    def from_doc(cls, doc: dict, run_dir: Path) -> "Result":
        stages = []
        for s in doc["stages"]:
            folder = run_dir / "checkpoints" / s["name"]
            ckpts = {kind: folder / f"{kind}.pt" for kind in ("final", "last") if (folder / f"{kind}.pt").exists()}
            stages.append(StageResult(
                name=s["name"], status=s["status"], iterations=s["iterations"], budget=s["budget"], best=s["best"],
                goal=dict(s["goal"]), lr=s["lr"], knobs=dict(s["knobs"]), after=list(s["after"]),
                inserted=s["inserted"], attempts=s["attempts"], diagnoses=list(s["diagnoses"]),
                cause=s.get("cause"), checkpoints=ckpts))
        return cls(run_dir=run_dir, task=doc.get("task", ""), status=doc["status"], seed=doc.get("seed"),
                   stages=stages, decisions=list(doc["decisions"]), cause=doc.get("cause"))
