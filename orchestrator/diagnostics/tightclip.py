"""A gradient clip far below the gradients (code `lr_too_low`, warning): once per stage, from its first norms.

Clipping the global gradient norm at `optim.clip_norm` scales every step whose gradient is larger down to that norm:
a clip far below the gradients' own size shortens every step by the same factor, an LR that many times smaller
(benchmarks/holdout48's pulses: 0.001 under SGD, ~100x below its gradients; the LR probe, clipped as well, never
diverged, and nothing said why the stages crawled). Measured on the stage's first `spikes.min_history` (20) gradient
norms, taken before the clip: their median at least `spikes.clip_tight` (30) x the clip. With `spikes.auto_clip` (on by
default, as for spikes) the clip is then raised, for the rest of the stage, to the `spikes.clip_percentile` (50th)
percentile of those norms (AutoClip): left as it was, a search works around it with ever larger LRs and every later
stage needs a larger one again (holdout56's tiles/clip_norm_1e-3: a search, three inserted stages and a second search,
271 s, before it stalled).
"""
from __future__ import annotations

from ..diagnosis import Diagnosis
from .common import num
from .config import SpikeConfig


class TightClip:
    """Reads the norms the spike check keeps (its history, filled before this consumer sees the window)."""

    def __init__(self, c: SpikeConfig, spikes):
        self.c, self.spikes = c, spikes

    def on_start(self, run, stats) -> None:
        self.judged = False

    def on_window(self, run, stats, first: int, losses: list, norms: list) -> None:
        seen = self.spikes.history
        if self.judged or not run.clip_norm or len(seen) < self.c.min_history:
            return
        self.judged = True
        median = sorted(seen)[len(seen) // 2]
        if median < self.c.clip_tight * run.clip_norm:
            return
        configured, applied = run.clip_norm, None
        if self.c.auto_clip:
            run.clip_norm = self.spikes.clip_value()
            applied = (f"the clip raised to {num(run.clip_norm)} for the rest of this stage (the "
                       f"{num(self.c.clip_percentile)}th percentile of the measured norms)")
        run.diagnose(Diagnosis(
            "lr_too_low", "warning", f"the gradient clip (clip_norm {num(configured)}) lies "
            f"{median / configured:.0f}x below the median gradient norm {num(median)} of the stage's first "
            f"{len(seen)} measured steps: every step is cut to the clip, as if the LR were that many times "
            "smaller",
            evidence={"clip_norm": num(configured), "median_norm": num(median), "steps": len(seen),
                      "tight_clip": True},
            fix=f"raise optim.clip_norm to about {num(median)} (the gradients' own size), or leave clipping off",
            applied=applied))
