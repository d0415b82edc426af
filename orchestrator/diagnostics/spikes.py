"""Gradient spikes (code `exploding_gradients`): the global gradient norm far above its running median.

A step's norm (before clipping) is a spike when it exceeds `spikes.factor` (10) x the median of the last
`spikes.window` (200) norms, judged once `spikes.min_history` (20) norms are known, and also 10x the median of
the `spikes.recent` (20) norms just before it: a norm that climbs step by step (a Gaussian likelihood
sharpening its variances as it memorises: 0.6 -> 16 over 30 steps, the loss falling all along) is a trend
the recent norms follow, not the sudden jump of an explosion. `spikes.min_spikes`
(3) spikes within the first `spikes.early` (1000) iterations -- the RNN pattern (Pascanu et al. 2013) --
switch on global-norm clipping at the `spikes.clip_percentile` (50th) percentile of the norms seen so
far (AutoClip, Seetharaman et al. 2020), unless the user set optim.clip_norm or `spikes.auto_clip=false`
(then it is only recommended).
No spike counts once the loss is tiny (below `spikes.tiny_loss` (1e-3) x the stage's first loss or
`spikes.tiny_chance` (0.01) x problem.chance_loss): near a memorised zero loss Adam's normalised steps
burst, and that is not an explosion. A norm huge from the first step has no spike to show: the health
check judges it against the weights (health.py, `health.grad_weight_ratio`).
"""
from __future__ import annotations

import math
from collections import deque

from ..diagnosis import Diagnosis
from .common import num, warn_if_failed
from .config import SpikeConfig


class SpikeCheck:
    def __init__(self, c: SpikeConfig):
        self.c = c
        self.history: deque = deque(maxlen=c.window)
        self.recent: deque = deque(maxlen=max(1, c.recent))
        self.seen: list = []          # every finite norm, for the clipping percentile (bounded below)
        self.spikes: list = []        # (iteration, norm, median)
        self.reported = False
        self.frequent = None          # the spikes' diagnosis when it was info: a warning if they grow frequent and
        #                               the stage then fails

    def on_start(self, run, stats) -> None:
        self.history.clear()
        self.recent.clear()
        self.spikes, self.seen, self.reported, self.frequent = [], [], False, None
        self.tiny = None  # losses below this are "memorised": no spike counts there
        chance = run.problem.chance_loss
        self.tiny_chance = self.c.tiny_chance * chance if chance and math.isfinite(chance) else 0.0

    def state_dict(self) -> dict:
        return {"history": list(self.history), "seen": list(self.seen), "spikes": list(self.spikes),
                "reported": self.reported, "recent": list(self.recent), "frequent": self.frequent}

    def load_state_dict(self, state: dict) -> None:
        self.history.clear()
        self.history.extend(state["history"])
        self.recent.clear()
        self.recent.extend(state.get("recent") or list(state["history"])[-self.c.recent:])
        self.seen, self.spikes = list(state["seen"]), [tuple(x) for x in state["spikes"]]
        self.reported = state["reported"]
        self.frequent = state.get("frequent")

    def on_window(self, run, stats, first: int, losses: list, norms: list) -> None:
        median = _median(self.history) if len(self.history) >= self.c.min_history else None
        if self.tiny is None:
            start = next((v for v in losses if math.isfinite(v)), None)
            if start is not None:
                self.tiny = max(self.c.tiny_loss * abs(start), self.tiny_chance)
        for k, g in enumerate(norms):
            if g is None or not math.isfinite(g):  # None: not measured at this step
                continue
            memorised = self.tiny is not None and math.isfinite(losses[k]) and abs(losses[k]) < self.tiny
            if median is not None and median > 0 and g > self.c.factor * median and not memorised \
                    and g > self.c.factor * _median(self.recent):
                self.spikes.append((first + k, g, median))
            self.history.append(g)
            self.recent.append(g)
            if len(self.seen) < 10000:
                self.seen.append(g)
        early = self.early()
        if not self.reported and len(early) >= self.c.min_spikes:
            self.reported = True
            self.report(run, early)

    def clip_value(self) -> float:
        values = sorted(self.seen or self.history)
        if not values:
            return 1.0
        i = min(len(values) - 1, max(0, int(round(self.c.clip_percentile / 100 * (len(values) - 1)))))
        return values[i]

    def report(self, run, early: list) -> None:
        clip = self.clip_value()
        evidence = {"spikes": [{"iteration": i, "norm": num(g), "median": num(m)} for i, g, m in early[:20]],
                    "spike_count": len(self.spikes), "factor": self.c.factor,
                    "median_norm": num(_median(self.history)), "max_norm": num(max(self.history)),
                    "clip_at": num(clip)}
        applied = None
        if run.clip_norm:
            fix = f"clipping is already on (clip_norm={num(run.clip_norm)}); lower it or the LR"
        elif self.c.auto_clip:
            run.clip_norm = clip
            applied = (f"global-norm clipping at {num(clip)} "
                       f"(the {num(self.c.clip_percentile)}th percentile of observed norms)")
            fix = f"set optim.clip_norm={num(clip)}"
        else:
            fix = f"set optim.clip_norm={num(clip)} (the {num(self.c.clip_percentile)}th percentile of observed norms)"
        # A few spikes early on are common in healthy recurrent and attention models (the method's "10% or
        # fewer of the batches"): clipping them is routine, so they are info. Enormous spikes are a warning;
        # frequent ones (>= 5, > 10% of the measured steps) only if the stage then fails (on_end): a clean flow
        # memorising 10 points jumps from ~1 to 15-55 as its density sharpens, and meets its goal the next step.
        # Spikes followed by a non-finite loss are named by the non-finite check.
        measured = max(1, len(self.seen))
        huge = sum(g > 10 * self.c.factor * m for _, g, m in early)
        evidence.update(measured=measured, huge_spikes=huge)
        severity = "warning" if huge >= self.c.min_spikes else "info"
        d = Diagnosis("exploding_gradients", severity, self.describe(early), iteration=early[-1][0],
                      evidence=evidence, fix=fix, applied=applied)
        run.diagnose(d)
        if severity == "info":
            self.frequent = d.to_dict()

    def describe(self, early: list) -> str:
        first = early[0]
        return (f"{len(early)} gradient-norm spikes above {num(self.c.factor)}x the running median in the first "
                f"{self.c.early} iterations (first at iteration {first[0]}: {num(first[1])} vs median "
                f"{num(first[2])})")

    def early(self) -> list:
        return [s for s in self.spikes if s[0] <= self.c.early]

    def on_end(self, run, stats, outcome) -> None:
        early = self.early()
        if len(early) >= 5 and len(early) > 0.1 * max(1, len(self.seen)):  # frequent: now they may be why
            warn_if_failed(run, self.frequent, outcome, self.describe(early), spike_count=len(early))


def _median(values) -> float:
    v = sorted(values)
    n = len(v)
    if not n:
        return float("nan")
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
