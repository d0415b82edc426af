"""Outputs, or the loss, normalised over the wrong dimension: a softmax over the positions instead of the classes.

`F.log_softmax(logits, dim=1)` on (batch, time, classes) logits trains, but its loss has a floor: each class's
scores are normalised across the positions, so no position can be confident of one class without taking that
class away from the others. Nothing is non-finite, the loss falls for a while, and a one-example fit stalls at a
plausible level (read as label smoothing). Two exact, cheap signs in one forward and backward of fresh weights,
where the integer targets say which dimension of the outputs holds the classes (the only one whose removal leaves
the targets' shape, and larger than every target):
- the model's outputs are log-probabilities (logsumexp 0) or probabilities (sum 1) along another dimension and
  not along the classes: the model normalised over it;
- the loss does not change when a constant is added along another dimension (its gradient with respect to the
  outputs sums to 0 there, to float32 rounding) but does along the classes: the loss normalised over it. A
  cross-entropy over the classes is invariant along the classes, and along nothing else. Judged at the outputs
  plus unit noise, fed to the loss by a forward hook (no backward through the model).
The batch's own dimension (0) is not judged here: mixing examples is the start checks' `batch_dependence`.
"""
from __future__ import annotations

from typing import Optional

import torch

from ..diagnosis import Diagnosis
from .common import batch_targets

EXACT = 1e-4     # |logsumexp| or |sum - 1| below this at every position: normalised (float32 rounding is ~1e-6)
INVARIANT = 1e-5  # a gradient summed along a dimension, over its size, below this x its typical size: invariant
AGREE = 0.9      # the share of positions whose lowest gradient along a dimension is at the target: the classes
VARIES = 1e-3     # ... and along the classes above this: the loss sees a shift of the classes' scores


def normalised_elsewhere(problem, model, batch) -> Optional[Diagnosis]:
    """`loss_mismatch` when the outputs or the loss are normalised along a dimension that is not the classes'."""
    targets = batch_targets(problem, batch)
    if not isinstance(targets, torch.Tensor) or targets.is_floating_point() or targets.is_complex():
        return None  # only class-id targets say which dimension holds the classes
    outputs: list = []

    def feed(module, args, out):  # keep the outputs, and give the loss scores of our own (see shift_response)
        if not isinstance(out, torch.Tensor) or not out.is_floating_point():
            return None
        outputs.append(out)
        g = torch.Generator(device=out.device).manual_seed(0)
        scores = out.detach() + torch.randn(out.shape, generator=g, device=out.device, dtype=out.dtype)
        outputs.append(scores.requires_grad_())
        return scores

    handle = model.register_forward_hook(feed)
    try:
        loss = problem.loss(model, batch)
    finally:
        handle.remove()
    if len(outputs) != 2:
        return None  # the loss runs the model twice, or its output is not one tensor: no single output to judge
    out, scores = outputs
    if out.ndim < 3 or not bool(torch.isfinite(out).any()):
        return None  # (batch, classes) outputs have no other dimension than the batch's
    if not isinstance(loss, torch.Tensor) or not loss.requires_grad:
        return None
    (grad,) = torch.autograd.grad(loss, scores, allow_unused=True)
    if grad is None or not bool(torch.isfinite(grad).all()):
        return None
    grad = grad.double()
    classes = class_dim(grad, targets)
    if classes is None:
        return None
    values = out.detach().double()
    if normalised(values, classes) is None:
        for d in other_dims(out, classes):
            kind = normalised(values, d)
            if kind is not None:
                return _finding(out, d, classes, kind, "outputs")
    if shift_response(grad, classes) < VARIES:
        return None  # invariant along the classes: a normalisation over them, as it should be
    for d in other_dims(out, classes):
        if shift_response(grad, d) < INVARIANT:
            return _finding(out, d, classes, "loss", "loss")
    return None


def class_dim(grad: torch.Tensor, targets: torch.Tensor) -> Optional[int]:
    """The dimension of the outputs the targets index: removing it leaves the targets' shape, it is larger than every
    target (padding ids below 0, e.g. -100, do not count), and along it the loss's gradient is lowest at the target
    (a loss that rewards the target class: cross-entropy, NLL, label smoothing) at `AGREE` of the positions the loss
    reads. None when no dimension or several fit ((batch, 13, 13) outputs: 13 positions and 13 classes)."""
    shape = grad.shape
    if len(shape) != targets.ndim + 1:
        return None
    valid = targets[targets >= 0]
    top = int(valid.max()) if valid.numel() else -1
    fits = []
    for d in range(len(shape)):
        if tuple(shape[:d]) + tuple(shape[d + 1:]) != tuple(targets.shape) or shape[d] <= top:
            continue
        g = grad.movedim(d, -1)
        read = g.abs().amax(-1) > 0  # positions the loss reads (not padding it ignores)
        if bool(read.any()) and float((g.argmin(-1) == targets)[read].double().mean()) >= AGREE:
            fits.append(d)
    return fits[0] if len(fits) == 1 else None


def other_dims(out: torch.Tensor, classes: int) -> list:
    """The dimensions besides the batch's (0) and the classes', of more than one entry."""
    return [d for d in range(1, out.ndim) if d != classes and out.shape[d] > 1]


def normalised(values: torch.Tensor, d: int) -> Optional[str]:
    """'log-probabilities' or 'probabilities' when `values` are normalised along `d` at every position, else None."""
    finite = torch.isfinite(values)
    if not bool(finite.all()) and bool(torch.isnan(values).any()):
        return None
    if bool((values[finite] <= EXACT).all()):
        lse = torch.logsumexp(values, dim=d)
        if bool(torch.isfinite(lse).all()) and float(lse.abs().max()) < EXACT:
            return "log-probabilities"
    if bool(finite.all()) and bool((values >= -EXACT).all()):
        if float((values.sum(d) - 1).abs().max()) < EXACT:
            return "probabilities"
    return None


def shift_response(grad: torch.Tensor, d: int) -> float:
    """At scores of our own (the outputs plus unit noise: fresh weights' nearly uniform outputs would make even a
    wrong normalisation look invariant along the classes), how much the loss changes when every score along `d` moves by the same amount (the gradient summed along
    `d`), relative to how much it changes when one score moves (the gradient's typical entry x the size of `d`):
    0 for a loss that normalises along `d`."""
    scale = float(grad.abs().mean()) * grad.shape[d]
    if scale == 0.0:
        return 0.0
    return float(grad.sum(d).abs().mean()) / scale


def _finding(out: torch.Tensor, d: int, classes: int, kind: str, where: str) -> Diagnosis:
    shape = tuple(out.shape)
    if where == "outputs":
        what = (f"the model's outputs {shape} are {kind} along dim {d} (size {shape[d]}): they sum to 1 there at every "
                f"position, but not along dim {classes} (size {shape[classes]}), the classes the integer targets index")
        fix = (f"normalise over the classes: log_softmax(dim={classes}) (or -1 for the last), or return the raw "
               "logits and let cross_entropy normalise them")
    else:
        what = (f"the loss does not change when a constant is added to the outputs {shape} along dim {d} (size "
                f"{shape[d]}), but does along dim {classes} (size {shape[classes]}), the classes the integer targets "
                f"index: it normalises the scores over dim {d} (a log_softmax or softmax over the wrong dimension)")
        fix = (f"normalise over the classes: log_softmax(logits, dim={classes}) (or -1 for the last) before nll_loss, "
               "or cross_entropy on the raw logits with the classes where it expects them")
    return Diagnosis(
        "loss_mismatch", "error", f"{what}. The classes then compete across the other positions instead of within "
        "each one: the loss has a floor far above 0 and the predictions stay poor",
        evidence={"normalised_dim": d, "class_dim": classes, "shape": list(shape), "kind": kind, "in": where,
                  "before_update": True},
        fix=fix)
