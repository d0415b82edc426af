"""A training loss that falls without bound (code `loss_unbounded`): a sign flipped, or targets off the loss's range.

Cross-entropy, BCE, MSE and KL cannot go below zero, and a likelihood of continuous data goes below zero
only by a few nats per value. A loss that falls to -1000 x the size of the stage's first loss is
maximising something: a term with the wrong sign (an ELBO written recon - KL, a negated cross-entropy),
or targets outside the range the loss assumes (BCE on pixels in 0..16 instead of 0..1). The gradients
then explode and the loss goes non-finite, and those symptoms come first unless this is named: it reads
the losses StepStats reads anyway (every `nonfinite.check_every` iterations, no extra host sync).
"""
from __future__ import annotations

import math

from ..diagnosis import Diagnosis
from .common import num
from .config import NonFiniteConfig


class UnboundedLoss:
    def __init__(self, c: NonFiniteConfig):
        self.c = c
        self.first = None
        self.fired = False

    def on_start(self, run, stats) -> None:
        self.first, self.fired = None, False

    def state_dict(self) -> dict:
        return {"first": self.first, "fired": self.fired}

    def load_state_dict(self, state: dict) -> None:
        self.first, self.fired = state["first"], state["fired"]

    def on_window(self, run, stats, first_iteration: int, losses: list, norms: list) -> None:
        if self.fired or not self.c.unbounded_factor or not losses:
            return
        if self.first is None:
            self.first = next((v for v in losses if math.isfinite(v)), None)
            if self.first is None:
                return
        limit = -self.c.unbounded_factor * max(abs(self.first), 1.0)
        if not min((v for v in losses if v == v), default=math.inf) < limit:  # NaNs left out (nonfinite's)
            return
        self.fired = True
        iteration, value = next((first_iteration + k, v) for k, v in enumerate(losses) if v < limit)
        run.diagnose(Diagnosis(
            "loss_unbounded", "error", f"the training loss fell to {num(value)} at iteration {iteration} from "
            f"{num(self.first)} at the start: it is unbounded below, so training maximises something",
            iteration=iteration, evidence={"loss": num(value), "first_loss": num(self.first), "limit": num(limit)},
            fix="check the loss's signs (an ELBO is recon + KL; a negated cross-entropy) and that targets lie in "
                "the range the loss assumes (BCE targets in [0, 1], class ids for cross_entropy)"))
