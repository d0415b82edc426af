"""A training loss that falls without bound (code `loss_unbounded`): a sign flipped, or targets off the loss's range.

Two ways to see it. Before any update (`along_outputs`, called by the init check): the model's outputs moved
along the loss's descent direction, by 1x, 10x and 100x their scale, keep lowering the loss at least in
proportion, far below zero. Cross-entropy, BCE and MSE level off or rise again; a loss that is linear in the
outputs (predictions and targets swapped in `binary_cross_entropy_with_logits(target, input)`, NLLLoss on raw
logits, a negated loss, BCE targets above 1) does not, and training would push the outputs to infinity.
During training (`UnboundedLoss`): the loss itself falls far below zero.

Cross-entropy, BCE, MSE and KL cannot go below zero, and a likelihood of continuous data goes below zero
only by a few nats per value. A loss that falls to -1000 x the size of the stage's first loss is
maximising something: a term with the wrong sign (an ELBO written recon - KL, a negated cross-entropy),
or targets outside the range the loss assumes (BCE on pixels in 0..16 instead of 0..1). The gradients
then explode and the loss goes non-finite, and those symptoms come first unless this is named: it reads
the losses StepStats reads anyway (every `nonfinite.check_every` iterations, no extra host sync).
"""
from __future__ import annotations

import math
from typing import Optional

import torch

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


RAY = (1.0, 10.0, 100.0)  # the outputs moved by this many times their scale (at least 1) along the descent direction


class _Skip(Exception):
    """An output the ray cannot follow (not a float tensor, another shape on a later call)."""


def along_outputs(problem, model, batch) -> Optional[dict]:
    """The loss along a ray of the model's outputs, from the first batch's: evidence when it falls without bound
    (at least linearly, to below -10 x max(1, |its start|)), else None. Eval mode (no dropout noise). Only a
    model whose outputs are plain float tensors (each call's, for a model called twice per loss, as a scorer of
    two items); not log-probabilities or probabilities, which the model keeps in range and the ray would not:
    NLLLoss on log_softmax is linear in them by design. Outputs that are tuples (a flow's z and log-det, a VAE's
    mean and log-variance: tied by the model, free on the ray) get no verdict."""
    was = model.training
    model.eval()
    outs: list = []

    def capture(module, args, output):
        if not (isinstance(output, torch.Tensor) and output.is_floating_point()):
            raise _Skip
        output.retain_grad()
        outs.append(output)

    try:
        handle = model.register_forward_hook(capture)
        try:
            with torch.enable_grad():
                loss = problem.loss(model, batch)
        finally:
            handle.remove()
        start = float(loss.detach().float().mean())
        if not outs or not loss.requires_grad or not math.isfinite(start) or any(_in_range(o) for o in outs):
            return None
        grads = torch.autograd.grad(loss.float().mean(), outs, allow_unused=True)
        grads = [torch.zeros_like(o) if g is None else g.detach() for o, g in zip(outs, grads)]
        count = sum(o.numel() for o in outs)
        g_rms = math.sqrt(sum(float(g.float().square().sum()) for g in grads) / count)
        o_rms = math.sqrt(sum(float(o.detach().float().square().sum()) for o in outs) / count)
        if not g_rms > 0 or not math.isfinite(g_rms):
            return None
        steps = [-(g / g_rms) * max(o_rms, 1.0) for g in grads]
        values = [_loss_shifted(problem, model, batch, outs, steps, k) for k in RAY]
    except Exception:  # noqa: BLE001 - a model or loss the ray cannot follow: no verdict
        return None
    finally:
        model.train(was)
    if not all(math.isfinite(v) for v in values):
        return None
    near, mid, far = values
    falling = start > near > mid > far and (mid - far) >= 5 * (near - mid)  # linear: 10x; levelling off: < 1x
    if not (falling and far < -10 * max(abs(start), 1.0)):
        return None
    return {"start": num(start), "along_outputs": {f"{k:g}x": num(v) for k, v in zip(RAY, values)},
            "output_scale": num(max(o_rms, 1.0)), "before_update": True}


def _loss_shifted(problem, model, batch, outs: list, steps: list, k: float) -> float:
    calls = iter(range(len(outs)))

    def shift(module, args, output):
        i = next(calls, None)
        if i is None or not isinstance(output, torch.Tensor) or output.shape != outs[i].shape:
            raise _Skip
        return output + k * steps[i]

    handle = model.register_forward_hook(shift)
    try:
        with torch.no_grad():
            return float(problem.loss(model, batch).float().mean())
    finally:
        handle.remove()


def _in_range(out: torch.Tensor) -> bool:
    """Log-probabilities (<= 0, logsumexp 0 along a dimension, or a little below: a log_softmax whose padded
    positions were then set to -1e9 leaves the others summing below 1, and the model still cannot raise them past 0)
    or probabilities (in [0, 1], summing to 1)."""
    x = out.detach().float()
    if x.dim() == 0 or x.numel() == 0:
        return False
    log_like, prob_like = bool((x <= 1e-6).all()), bool(((x >= 0) & (x <= 1)).all())
    for dim in (d for d in range(x.dim()) if x.shape[d] >= 2):
        if log_like:
            mass = torch.logsumexp(x, dim)
            if bool(((mass < 1e-3) & (mass > -10)).all()):
                return True
        if prob_like and bool(((x.sum(dim) - 1).abs() < 1e-3).all()):
            return True
    return False


def unbounded_at_start(evidence: dict) -> Diagnosis:
    ray = ", ".join(f"{v} at {k}" for k, v in evidence["along_outputs"].items())
    return Diagnosis(
        "loss_unbounded", "error", f"the loss of fresh weights ({evidence['start']}) falls without bound as the "
        f"model's outputs move along its gradient ({ray} their scale), before any update: it is linear in the "
        "outputs (or worse), so training would drive them to infinity; not the learning rate",
        evidence=evidence,
        fix="check the loss call's argument order (input/logits first, target second), that NLLLoss gets "
            "log-probabilities (log_softmax) rather than raw scores, the loss's sign, and that targets lie in the "
            "range the loss assumes (BCE targets in [0, 1])")
