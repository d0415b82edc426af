"""The Ladder: stages of increasing difficulty as a DAG (networkx), and its validation.

The engine is the only code that changes a Ladder (`insert_between`, and the statuses a retry, a skip or a
fallback sets: engine.apply); everything else reads it.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional

import networkx as nx

from .errors import ConfigError
from .knobs import SCALES, Knob, resolve

PENDING, RUNNING, CONVERGED, FAILED = "pending", "running", "converged", "failed"
SKIPPED = "skipped"  # a fallback stage not needed (yet): the stages after it went on without it
DONE = (CONVERGED, SKIPPED)  # what lets the stages after a stage run

# A stage name is a folder name under tb/ and checkpoints/: no "/", "\\", "..", leading dot or "@" (tb/<stage>@2
# is a retry). Dots between parts are allowed: inserted stages are named <stage>.half1.
_NAME = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")
NAME_RULE = "letters, digits, '_', '-', and '.' between them; at most 100 characters"


def valid_name(name) -> bool:
    return isinstance(name, str) and len(name) <= 100 and _NAME.fullmatch(name) is not None


FLOAT32_SLACK = 1e-6  # relative: float32 keeps ~7 significant digits


@dataclass(frozen=True)
class Goal:
    metric: str
    target: float
    mode: str = "max"  # "max" or "min"

    def met(self, value: float) -> bool:
        # up to float32 rounding: 384 / 400 computed in float32 reads 0.95999998, which must meet a goal of 0.96
        slack = FLOAT32_SLACK * max(1.0, abs(self.target))
        return value >= self.target - slack if self.mode == "max" else value <= self.target + slack

    def better(self, value: float, than: Optional[float], min_delta: float = 0.0) -> bool:
        if than is None:
            return value == value  # not NaN
        return value > than + min_delta if self.mode == "max" else value < than - min_delta


@dataclass
class Stage:
    name: str
    goal: Goal
    knobs: dict                      # full knob setting (every knob of the task)
    after: list = field(default_factory=list)
    budget_override: Optional[int] = None
    init_from: Optional[str] = None  # None: first predecessor; "none": fresh weights
    lr: Optional[float] = None
    batch_size: Optional[int] = None
    probe: Optional[bool] = None
    inserted: bool = False
    edge: Optional[tuple] = None     # the original (predecessor, stage) edge an inserted stage sits on
    # what happened to it
    status: str = PENDING
    budget: Optional[int] = None
    iterations: int = 0              # iterations the last attempt trained (to convergence, if it did)
    attempts: int = 0
    best: Optional[float] = None
    lr_used: Optional[float] = None
    diagnoses: list = field(default_factory=list)
    cause: Optional[dict] = None     # a failed stage's most likely cause (diagnostics/ranking.py)
    diagnoses_at_start: Optional[int] = None  # len(diagnoses) when this attempt's training began
    search: Optional[dict] = None    # search.* settings for this stage; set: search it outright (orchestrator/search)
    trials: Optional[list] = None    # its search's trials (None: never searched)
    mix: float = 0.0                 # share of each batch replayed from earlier stages (orchestrator/mixing.py)
    fallback: bool = False           # trained only when a stage after it fails without it (policy.FALLBACK)
    called: bool = False             # a fallback stage that a failure called: it trains like any other now

    def warm_start_source(self) -> Optional[str]:
        if self.init_from == "none":
            return None
        return self.init_from or (self.after[0] if self.after else None)


class Ladder:
    def __init__(self, stages: Iterable[Stage]):
        self.stages: dict[str, Stage] = {s.name: s for s in stages}
        self.graph = nx.DiGraph()
        for s in self.stages.values():
            self.graph.add_node(s.name)
            self.graph.add_edges_from((p, s.name) for p in s.after)

    def __getitem__(self, name: str) -> Stage:
        return self.stages[name]

    def order(self) -> list[Stage]:
        """Stages in the order they run: topological, ties broken by declaration order."""
        rank = {name: i for i, name in enumerate(self.stages)}
        return [self.stages[n] for n in nx.lexicographical_topological_sort(self.graph, key=rank.get)]

    def next_runnable(self) -> Optional[Stage]:
        """The first stage not yet converged whose predecessors all converged."""
        for stage in self.order():
            if stage.status not in DONE and all(self[p].status in DONE for p in stage.after):
                return stage
        return None

    def warm_start_source(self, stage: Stage) -> Optional[str]:
        """The converged stage `stage` warm-starts from: its own source, or, when that was skipped, the
        skipped stage's source, and so on (None: fresh weights)."""
        source = stage.warm_start_source()
        while source is not None and self[source].status == SKIPPED:
            source = self[source].warm_start_source()
        return source

    def inherited_diagnoses(self, stage: Stage) -> tuple:
        """The warnings and errors of the stages `stage` warm-starts from, back to fresh weights, nearest first (a
        fault of the weights, e.g. recurrent states pinned by the init, travels with them)."""
        found, source = [], self.warm_start_source(stage)
        while source is not None:
            found += [d for d in self[source].diagnoses if d["severity"] != "info"]
            source = self.warm_start_source(self[source])
        return tuple(found)

    def after_stage(self, name: str) -> list[str]:
        """The stages that come after `name` (its descendants), in run order."""
        later = nx.descendants(self.graph, name)
        return [s.name for s in self.order() if s.name in later]

    def hardest_after(self, name: str) -> Optional[Stage]:
        """The last stage in run order of those that come after `name` (the task it builds up to), or None at the
        top."""
        later = nx.descendants(self.graph, name)
        return next((s for s in reversed(self.order()) if s.name in later), None)

    def through_skipped(self, names: Iterable[str]) -> list[str]:
        """`names`, each skipped stage replaced by its own predecessors (recursively): the stages that ran."""
        out = []
        for name in names:
            for n in (self.through_skipped(self[name].after) if self[name].status == SKIPPED else [name]):
                if n not in out:
                    out.append(n)
        return out

    def skipped_before(self, name: str) -> list[Stage]:
        """The skipped fallback stages `name` comes after, in run order."""
        before = self.ancestors(name)
        return [s for s in self.order() if s.name in before and s.status == SKIPPED]

    def ancestors(self, name: str) -> set:
        return nx.ancestors(self.graph, name)

    def all_converged(self) -> bool:
        return all(s.status in DONE for s in self.stages.values())

    def insertions_on(self, edge: tuple) -> int:
        return sum(1 for s in self.stages.values() if s.inserted and s.edge == edge)

    def original_edge(self, pred: str, stage: str) -> tuple:
        """The edge of the user's ladder that (pred -> stage) was carved from."""
        first = self[pred].edge[0] if self[pred].inserted else pred
        last = self[stage].edge[1] if self[stage].inserted else stage
        return (first, last)

    def probe_evidence(self, stage: Stage) -> Optional[dict]:
        """The LR probe's evidence (`threshold`, `lr`, `fallback_lr`) that holds for `stage`: its own probe's,
        else its nearest ancestor's, else any stage's. None when no probe found a threshold."""
        chain, seen = [], stage
        while seen is not None:
            chain.append(seen)
            seen = self[seen.after[0]] if seen.after else None
        for s in chain + self.order():
            for d in reversed(s.diagnoses):
                if d["code"] in ("lr_probe", "lr_too_high") and (d.get("evidence") or {}).get("threshold"):
                    return d["evidence"]
        return None

    def insert_between(self, pred: str, stage: str, name: str, knobs: dict) -> Stage:
        """A new stage on the edge pred -> stage, with the failing stage's goal."""
        target = self[stage]
        new = Stage(name=name, goal=target.goal, knobs=knobs, after=[pred], inserted=True,
                    edge=self.original_edge(pred, stage), lr=target.lr, batch_size=target.batch_size,
                    mix=target.mix)
        target.after = [name if p == pred else p for p in target.after]
        if target.init_from == pred:
            target.init_from = None  # warm-start from the new, nearer stage
        # keep declaration order meaningful: the new stage sits just before the one it helps
        items = list(self.stages.items())
        at = [n for n, _ in items].index(stage)
        self.stages = dict(items[:at] + [(name, new)] + items[at:])
        self.graph.remove_edge(pred, stage)
        self.graph.add_edges_from([(pred, name), (name, stage)])
        return new


def from_config(stages_cfg: Mapping[str, Any], knobs_cfg: Mapping[str, Any], metrics: Iterable[str],
                where: str = "") -> tuple[Ladder, dict[str, Knob]]:
    """Build and validate a ladder from config objects. Raises ConfigError naming the key."""
    metrics = set(metrics)

    def fail(key: str, message: str):
        raise ConfigError(message, key=key, where=where)

    knobs = {}
    for name, k in knobs_cfg.items():
        key = f"knobs.{name}"
        if k.scale not in SCALES:
            fail(f"{key}.scale", f"unknown scale {k.scale!r} (expected one of {', '.join(SCALES)})")
        values = tuple(k.values or ())
        if k.scale == "categorical":
            for end in ("easy", "hard"):
                if getattr(k, end) not in values:
                    fail(f"{key}.{end}", f"{getattr(k, end)!r} is not one of values {list(values)}")
        elif k.scale == "log" and not (_positive(k.easy) and _positive(k.hard)):
            fail(key, "a log-scale knob needs positive easy and hard values")
        elif k.scale == "linear" and not (_number(k.easy) and _number(k.hard)):
            fail(key, f"a linear knob needs numbers, got easy={k.easy!r}, hard={k.hard!r}")
        if k.easy == k.hard:
            fail(key, f"easy and hard are the same value ({k.easy!r}): the knob cannot make a stage easier")
        knobs[name] = Knob(name, k.easy, k.hard, k.scale, values)

    if not stages_cfg:
        fail("ladder.stages", "the ladder has no stage")
    stages = []
    for name, s in stages_cfg.items():
        key = f"ladder.stages.{name}"
        if not valid_name(name):
            fail(key, f"{name!r} is not a valid stage name ({NAME_RULE})")
        for knob, value in s.knobs.items():
            if knob not in knobs:
                fail(f"{key}.knobs.{knob}", f"unknown knob {knob!r} (the task's knobs: {', '.join(knobs) or 'none'})")
            if knobs[knob].scale == "categorical" and value not in knobs[knob].values:
                fail(f"{key}.knobs.{knob}", f"{value!r} is not one of {list(knobs[knob].values)}")
            if knobs[knob].scale != "categorical":
                problem = _out_of_range(knobs[knob], value)
                if problem:
                    fail(f"{key}.knobs.{knob}", problem)
        for pred in s.after:
            if pred not in stages_cfg:
                fail(f"{key}.after", f"unknown predecessor {pred!r}")
        if s.goal.metric not in metrics:
            fail(f"{key}.goal.metric",
                 f"unknown metric {s.goal.metric!r} (the task reports: {', '.join(sorted(metrics))})")
        if s.goal.mode not in ("min", "max"):
            fail(f"{key}.goal.mode", f"{s.goal.mode!r} is neither 'min' nor 'max'")
        if s.budget is not None and s.budget <= 0:
            fail(f"{key}.budget", f"budget must be > 0, got {s.budget}")
        if s.lr is not None and not (math.isfinite(s.lr) and s.lr > 0):
            fail(f"{key}.lr", f"must be > 0, got {s.lr}")
        if s.batch_size is not None and s.batch_size <= 0:
            fail(f"{key}.batch_size", f"must be > 0, got {s.batch_size} (omit it for optim.batch_size)")
        if not (_number(s.mix) and 0 <= s.mix < 1):
            fail(f"{key}.mix", f"must be a share in [0, 1), got {s.mix!r}")
        if not math.isfinite(float(s.goal.target)):
            fail(f"{key}.goal.target", f"must be a finite number, got {s.goal.target}")
        if s.fallback and not s.after:
            fail(f"{key}.fallback", "a first stage cannot be a fallback: it is where the ladder starts (and where "
                 "bugs show first)")
        if s.fallback and not any(name in (o.after or []) for o in stages_cfg.values()):
            fail(f"{key}.fallback", "no stage comes after it, so no failure could ever call it")
        if s.init_from not in (None, "none") and s.init_from not in stages_cfg:
            fail(f"{key}.init_from", f"unknown stage {s.init_from!r}")
        stages.append(Stage(name=name, goal=Goal(s.goal.metric, float(s.goal.target), s.goal.mode),
                            knobs=resolve(knobs, s.knobs), after=list(s.after), budget_override=s.budget,
                            init_from=s.init_from, lr=s.lr, batch_size=s.batch_size, probe=s.probe,
                            search=dict(s.search) if s.search is not None else None, mix=float(s.mix),
                            fallback=bool(s.fallback)))
    ladder = Ladder(stages)
    try:
        cycle = nx.find_cycle(ladder.graph)
        fail("ladder.stages", "the stages form a cycle: " + " -> ".join([a for a, _ in cycle] + [cycle[0][0]]))
    except nx.NetworkXNoCycle:
        pass
    for stage in ladder.stages.values():  # warm starts need weights that exist by the time the stage runs
        source = stage.init_from
        if source not in (None, "none") and not nx.has_path(ladder.graph, source, stage.name):
            fail(f"ladder.stages.{stage.name}.init_from", f"{source!r} does not run before {stage.name!r} "
                 "(it must be one of its ancestors in the ladder)")
    return ladder, knobs


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _positive(x) -> bool:
    return _number(x) and x > 0


def _out_of_range(knob: Knob, value) -> Optional[str]:
    """Why a stage's value for a numeric knob is unusable, or None."""
    if not _number(value):
        return f"{value!r} is not a number"
    if knob.scale == "log" and value <= 0:
        return f"{value!r}: a log-scale knob needs a positive value"
    harder = 1 if knob.hard > knob.easy else -1
    if (value - knob.hard) * harder > 0:
        return f"{value!r} is past the knob's hard end ({knob.hard!r})"
    return None
