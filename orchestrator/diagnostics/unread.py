"""A goal that reads an output the loss never trains (code `loss_mismatch`, error): a failure check, any stage size.

A multi-output head whose loss reads the wrong column (`mse(out[:, 3], amount)` where column 4 holds the amount, and
the metrics read column 4) trains the column it reads and leaves the other at its initial weights: the loss falls,
the goal stays where it started, and easier stages, LRs and searches cannot help. The symptom, whatever the model:
output columns (the last dimension of the model's output) at which the loss's gradient is exactly zero for every
example, while the goal's measure changes when those columns change.

Measured on a failed stage, on the trained weights, on up to `failure.label_examples` (256) training examples: a
forward hook on the model keeps its outputs, and the loss's gradient with respect to them (torch.autograd.grad, so no
weight's gradient is touched) marks the columns it reads. Columns it never reads, among columns it does (an output
the loss ignores as a whole is an auxiliary one), that are not constant (a dead unit's column is another check's) and
not all classes that no target names while the loss reads one column per row (an NLL on log-probabilities reads
only the target's), are then shifted by `failure.unread_shift` (3) x (their spread + 1) in evaluate(), through the
same hook: the goal's metric moving by more than `failure.unread_change` (0.02, and 2% of its value) says evaluate()
reads them.
"""
from __future__ import annotations

from typing import Optional

import torch

from ..diagnosis import Diagnosis
from .common import batch_targets, num, tensors_in


def unread_output(ctx) -> Optional[Diagnosis]:
    from .failure import spread_batch
    from .startchecks import preserved
    run, problem, c = ctx.run, ctx.problem, ctx.cfg
    batch = spread_batch(ctx)
    with preserved(run):  # eval mode (dropout off), the weights' state and the mode put back afterwards
        run.model.eval()
        columns = _unread_columns(problem, run.model, batch)
        if not columns:
            return None
        metric = run.stage.goal.metric
        before = _goal(problem, run.model, metric)
        after = _goal(problem, run.model, metric, shift=(columns, c.unread_shift))
    if before is None or after is None or abs(after - before) <= max(c.unread_change, c.unread_change * abs(before)):
        return None
    width, unread = columns
    said = ", ".join(str(i) for i in unread[:8]) + (", ..." if len(unread) > 8 else "")
    return Diagnosis(
        "loss_mismatch", "error",
        f"the loss never reads output column(s) {said} of the model's {width} (its gradient there is exactly zero on "
        f"every example), yet the goal's {metric} does: shifting them moves it from {num(before)} to {num(after)}. "
        "What the goal measures is never trained",
        evidence={"unread_columns": unread[:32], "output_width": width, "goal_before": num(before),
                  "goal_shifted": num(after)},
        fix="check which output columns the loss reads (an index off by one in out[:, k], a slice that stops short) "
            "against the ones evaluate() reads")


def _unread_columns(problem, model, batch) -> Optional[tuple]:
    """(width, [columns]) of the model's output the loss's gradient never reaches, among columns it does reach. A
    column whose gradient is zero only because the output saturates there (weights x100 into a softmax: every
    probability exactly 0 or 1 on examples it fits) is read again at outputs pulled to 0, where nothing saturates: a
    loss that reads the column has a gradient there, one that never reads it has none still."""
    first = _reads(problem, model, batch)
    if first is None:
        return None
    width, read, varies, per_row = first
    if bool((~read & varies).any()):
        again = _reads(problem, model, batch, scale=0.0)
        if again is not None:
            _, read_at_zero, _, per_row_at_zero = again
            read, per_row = read | read_at_zero, max(per_row, per_row_at_zero)
    unread = (~read & varies).nonzero().flatten().tolist()
    if not unread or not bool(read.any()) or (per_row <= 1 and _absent_classes(problem, batch, unread)):
        return None
    return width, unread


def _reads(problem, model, batch, scale: Optional[float] = None) -> Optional[tuple]:
    """(width, the columns the loss's gradient reaches, the columns whose outputs vary, the most columns read in one
    row), with the model's output multiplied by `scale` when that is given (a single-tensor output only)."""
    outputs = []

    def keep(module, args, out):
        if scale is not None:
            if not (isinstance(out, torch.Tensor) and out.is_floating_point()):
                return None  # a structured output is read as it is only
            out = out * scale
        outputs.extend(t for t in tensors_in(out) if t.requires_grad and t.is_floating_point() and t.dim() >= 2)
        return out  # the output itself, or its scaled copy in its place

    handle = model.register_forward_hook(keep)
    try:
        with torch.enable_grad():
            loss = problem.loss(model, batch)
            widths = {t.shape[-1] for t in outputs}
            if not outputs or len(widths) != 1 or not loss.requires_grad or not torch.isfinite(loss).all():
                return None
            grads = torch.autograd.grad(loss, outputs, allow_unused=True)
    finally:
        handle.remove()
    width = widths.pop()
    if width < 2:
        return None
    read = torch.zeros(width, dtype=torch.bool, device=outputs[0].device)
    varies = torch.zeros_like(read)
    per_row = 0  # the most columns the loss reads in one row of the output
    for out, grad in zip(outputs, grads):
        values = out.detach().reshape(-1, width)
        varies |= values.amax(0) > values.amin(0)
        if grad is not None:
            reads = grad.reshape(-1, width) != 0
            read |= reads.any(0)
            per_row = max(per_row, int(reads.sum(1).max()))
    return width, read, varies, per_row


def _absent_classes(problem, batch, columns: list) -> bool:
    """Every unread column is a class no target names: an NLL on log-probabilities (the log-softmax inside the model)
    reads one column per row, each example's target, so an absent class is unread without a bug."""
    try:
        targets = batch_targets(problem, batch)
    except Exception:  # noqa: BLE001 - no targets to tell by: judge the columns as they are
        return False
    if not isinstance(targets, torch.Tensor) or targets.is_floating_point() or targets.is_complex():
        return False
    present = set(targets.unique().tolist())
    return not any(col in present for col in columns)


def _goal(problem, model, metric: str, shift: Optional[tuple] = None) -> Optional[float]:
    """The goal's metric from evaluate(), with the unread columns shifted when `shift` is (columns, factor)."""
    handle = None
    if shift is not None:
        (width, columns), factor = shift

        def shifted(module, args, out):
            if not isinstance(out, torch.Tensor) or out.shape[-1] != width:
                return out
            moved = out.clone()
            cols = moved[..., columns]
            moved[..., columns] = cols + factor * (cols.std() if cols.numel() > 1 else 0.0) + factor
            return moved

        handle = model.register_forward_hook(shifted)
    try:
        with torch.no_grad():
            value = dict(problem.evaluate(model)).get(metric)
    finally:
        if handle is not None:
            handle.remove()
    return float(value) if isinstance(value, (int, float)) else None
