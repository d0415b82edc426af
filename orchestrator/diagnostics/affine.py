"""A model that computes an affine function of its inputs (code `loss_floor`, warning): a failure check, any size.

Layers stacked without a nonlinearity between them (`nn.Sequential(nn.Linear(16, 64), nn.Linear(64, 5))`, an
activation built from a flag left off, `nn.Identity()` where a `nn.ReLU()` was meant) compose into one affine map,
however deep: the model fits what is linear in its inputs and stalls on the rest, and no LR, init or easier stage
helps (benchmarks/holdout48's blends/activations_forgotten: the class was linear in the spectrum, the brightness was
not). Nothing is non-finite, no unit is dead or saturated, and one example still fits.

Measured on a failed stage, on the trained weights in eval mode, on two halves a and b of up to 64 training
examples: the float inputs mixed example by example (the targets and every other tensor left as they are, so only
when those are the same in both halves) give outputs at (a + b) / 2 and at 2a - b within `failure.affine_tolerance`
(1e-5; a tanh net whose weights a strong decay shrank deviates by ~1e-3) x the outputs' difference of the mixed
outputs of a and b, while the outputs of a and b differ (the model reads the inputs at all).
"""
from __future__ import annotations

from typing import Any, Optional

import torch

from ..diagnosis import Diagnosis
from .common import batch_targets, num, run_model, same_sequence
from .startchecks import take


def affine_model(ctx) -> Optional[Diagnosis]:
    from .failure import spread_batch
    from .startchecks import preserved
    run, problem, c = ctx.run, ctx.problem, ctx.cfg
    half = min(problem.train_size, 64) // 2
    if half < 2:
        return None
    batch = spread_batch(ctx, 2 * half)
    targets = batch_targets(problem, batch)
    a, b = take(batch, torch.arange(half)), take(batch, torch.arange(half, 2 * half))
    skip = next((path for path, t in _leaves(batch) if t is targets), None)  # where the targets sit
    if not _mixable(a, b, skip):
        return None
    with preserved(run), torch.no_grad():
        run.model.eval()
        outs = [run_model(problem, run.model, x) for x in (a, b, _mix(a, b, 0.5), _mix(a, b, 2.0))]
    if not all(isinstance(o, torch.Tensor) and o.is_floating_point() and o.shape == outs[0].shape for o in outs):
        return None
    out_a, out_b, mid, far = (o.double() for o in outs)
    apart = float((out_a - out_b).abs().mean())
    if not apart > 0 or not all(bool(torch.isfinite(o).all()) for o in (out_a, out_b, mid, far)):
        return None
    off = max(float((mid - (out_a + out_b) / 2).abs().mean()), float((far - (2 * out_a - out_b)).abs().mean()))
    if off > c.affine_tolerance * apart:
        return None
    return Diagnosis(
        "loss_floor", "warning",
        f"the trained model computes an affine function of its inputs: halfway between two examples' inputs its "
        f"output is halfway between theirs, and twice as far on the line through them twice as far (off by "
        f"{off / apart:.1e} of their difference), so no nonlinearity acts between its layers: it can fit only what is "
        "linear in the inputs, however long it trains",
        evidence={"affine": True, "deviation": num(off / apart), "examples": 2 * half},
        fix="put a nonlinearity (ReLU, GELU, Tanh) between the linear or convolutional layers (an activation left out, "
            "or built from a flag that is off); a linear model is enough only for a linear task")


def _leaves(x: Any, path: tuple = ()) -> list:
    """(path, tensor) for every tensor in a batch (tuples, lists and dicts of them)."""
    if isinstance(x, torch.Tensor):
        return [(path, x)]
    if isinstance(x, (list, tuple)):
        return [leaf for k, v in enumerate(x) for leaf in _leaves(v, path + (k,))]
    if isinstance(x, dict):
        return [leaf for k, v in x.items() for leaf in _leaves(v, path + (k,))]
    return []


def _mixable(a: Any, b: Any, skip: Optional[tuple]) -> bool:
    """Some float input differs between the halves, and every other tensor but the targets is the same in both (a
    mask, a length, token ids that differ would not be mixed, so the line through a and b would not be one)."""
    floats = False
    for (path, x), (_, y) in zip(_leaves(a), _leaves(b)):
        if path == skip:
            continue
        if x.shape != y.shape:
            return False
        if x.is_floating_point():
            floats = floats or not torch.equal(x, y)
        elif not torch.equal(x, y):
            return False
    return floats


def _mix(a: Any, b: Any, w: float) -> Any:
    """w a + (1 - w) b for the float tensors (the targets too: the model does not read them), a's for the rest."""
    if isinstance(a, torch.Tensor):
        return w * a + (1 - w) * b if a.is_floating_point() else a
    if isinstance(a, (list, tuple)):
        return same_sequence(a, [_mix(x, y, w) for x, y in zip(a, b)])
    if isinstance(a, dict):
        return {k: _mix(a[k], b[k], w) for k in a}
    return a
