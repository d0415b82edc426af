"""Outputs that cannot reach their targets (code `loss_floor`, error): a failure check, any stage size.

A regression head squashed by a tanh or a sigmoid (`torch.tanh(self.out(h))` on standardised targets, a sigmoid on
targets in [-1, 1]) cannot reach the targets beyond its range, however long it trains. The functional call leaves no
module for the saturation checks to watch, one example may still fit (its target inside the range), and the ladder
inserts easier stages and searches LRs that cannot help (benchmarks/holdout47's yields, holdout46's rings). What
shows after training: the outputs pressed against an edge of (-1, 1) or (0, 1), never past it, while the targets
lie beyond it.

A clamp, not a squash (a ReLU after the head, `clamp(min=0)`, a ReLU on the logits): outputs exactly equal, at the
lowest (or highest) value of their column, for many examples whose targets differ. A linear head's outputs never tie
across distinct inputs, so a tie at the extreme is a floor the output cannot leave, and no gradient reaches it there:
those examples cannot be told apart, however long the model trains (benchmarks/holdout46's ratings/relu_after_head: a
ReLU'd ordinal score, every product rated below the floor scored alike).

Measured on a failed stage, on up to `failure.label_examples` (256) training examples, in eval mode, for real-valued
targets shaped like the outputs: the trained model's outputs all within (-1, 1) or (0, 1) (to 1e-6), at least
`failure.bound_pinned` (10%) of them within `failure.bound_margin` (0.02) of an edge, and at least
`failure.bound_beyond` (10%) of the targets past that edge by more than the margin. The clamp: at least
`failure.bound_pinned` of the examples tied at their column's extreme (in every column of their output row: targets of
one value per row, class indices), or of the elements (targets shaped like the outputs), while the tied ones' targets
take at least two values, spread at least `failure.bound_spread` (0.25) x as widely as all the targets (a count model
that rightly outputs 0 for its zero counts ties too, on targets that agree), at least as many are not tied (a model
whose output is one constant ignores its input: dead units or a too-high LR, which other checks name), and the tied
ones' targets lie beyond the free ones' (below a floor, above a ceiling) in at least `failure.bound_order` (75%) of
the pairs: a ReLU network whose hidden units are all off for some inputs ties them at the head's bias too, but on
targets of every size.
"""
from __future__ import annotations

from typing import Optional

import torch

from ..diagnosis import Diagnosis
from .common import batch_targets, num, run_model

RANGES = ((-1.0, 1.0, "tanh"), (0.0, 1.0, "sigmoid"))


def unreachable_targets(ctx) -> Optional[Diagnosis]:
    found = trained_outputs(ctx)
    if found is None:
        return None
    targets, out = found
    return clamped(out, targets, ctx.cfg) or squashed(out, targets, ctx.cfg)


def trained_outputs(ctx) -> Optional[tuple]:
    """(targets, outputs as float) of the trained model in eval mode on the spread training examples, or None when
    the batch has no targets tensor or the model no float output tensor."""
    from .failure import spread_batch
    from .startchecks import preserved
    run, problem = ctx.run, ctx.problem
    batch = spread_batch(ctx)
    targets = batch_targets(problem, batch)
    if not isinstance(targets, torch.Tensor):
        return None
    with preserved(run), torch.no_grad():
        run.model.eval()
        out = run_model(problem, run.model, batch)
    if not isinstance(out, torch.Tensor) or not out.is_floating_point() or out.dim() == 0:
        return None
    return targets.detach().to(out.device), out.detach().float()


def squashed(out: torch.Tensor, targets: torch.Tensor, c) -> Optional[Diagnosis]:
    """Outputs inside a tanh's or a sigmoid's range, pressed against an edge, with targets past it."""
    if out.numel() != targets.numel() or not targets.is_floating_point():
        return None
    out, y = out.reshape(-1), targets.float().reshape(-1)
    for lo, hi, squash in RANGES:
        if float(out.min()) < lo - 1e-6 or float(out.max()) > hi + 1e-6:
            continue
        m = c.bound_margin
        for edge, pinned, beyond in ((hi, out >= hi - m, y > hi + m), (lo, out <= lo + m, y < lo - m)):
            if float(pinned.float().mean()) >= c.bound_pinned and float(beyond.float().mean()) >= c.bound_beyond:
                at, past = float(pinned.float().mean()), float(beyond.float().mean())
                far = float(y.max()) if edge == hi else float(y.min())
                return Diagnosis(
                    "loss_floor", "error", f"the trained model's outputs stay within ({num(lo)}, {num(hi)}) and "
                    f"{at:.0%} of them sit at its edge {num(edge)}, while {past:.0%} of the targets lie beyond it "
                    f"(as far as {num(far)}): a {squash} (or clamp) on the output cannot reach them, whatever the "
                    "training", evidence={"bounded_output": [lo, hi], "pinned": num(at), "targets_beyond": num(past)},
                    fix=f"drop the {squash} on the output (or scale the targets into its range)")
    return None


def clamped(out: torch.Tensor, targets: torch.Tensor, c) -> Optional[Diagnosis]:
    """Outputs tied at their column's extreme for examples whose targets differ: a floor (or ceiling) on the output."""
    if out.shape[0] < 8 or not bool(torch.isfinite(out).all()):
        return None
    rows = out.reshape(out.shape[0], -1) if targets.numel() == out.shape[0] else out.reshape(-1, out.shape[-1])
    if targets.numel() == out.numel():  # one target per output: elements are judged one by one
        y, per_row = targets.float().reshape(rows.shape), False
    elif targets.numel() == rows.shape[0]:  # one target per row (a class, a rating)
        y, per_row = targets.float().reshape(-1, 1), True
    else:
        return None
    real = y > -100 if not targets.is_floating_point() else torch.ones_like(y, dtype=torch.bool)  # ignore_index
    for side, extreme in (("lowest", rows.min(0).values), ("highest", rows.max(0).values)):
        tied = rows == extreme
        if per_row:
            tied = tied.all(1, keepdim=True)
        tied = tied & real
        tied &= tied.sum(0, keepdim=True) >= 2  # the extreme itself is one value: a tie takes two examples or more
        share = float(tied.float().sum() / real.float().sum().clamp(min=1))
        if not c.bound_pinned <= share <= 1 - c.bound_pinned:  # all tied: a collapsed model (dead units, a
            continue  # too-high LR), whose output ignores the input; the other checks name that
        held, every, free = y[tied], y[real], y[~tied & real]
        if held.unique().numel() < 2 or float(held.std()) < c.bound_spread * float(every.std()):
            continue
        if _beyond(held, free, side == "lowest") < c.bound_order:
            continue  # the tied examples' targets are not the ones past the floor: a collapse (every hidden unit
            # off for them, the head's bias alone left), not a clamp
        value = float(extreme.reshape(-1)[0]) if extreme.numel() == 1 else None
        at = f" at {num(value)}" if value is not None else ""
        kinds = "classes" if not targets.is_floating_point() else "targets"
        return Diagnosis(
            "loss_floor", "error", f"{share:.0%} of the trained model's outputs are exactly equal{at}, the "
            f"{side} value they take, for examples whose {kinds} differ ({held.unique().numel()} distinct values): "
            "the output is clamped (a ReLU or a clamp after the head), no gradient reaches it there, and those "
            "examples cannot be told apart however long it trains",
            evidence={"clamped_output": side, "tied": num(share), "distinct_targets": int(held.unique().numel())},
            fix="drop the ReLU / clamp on the model's output (keep the head linear; bound it with a smooth "
                "function, or scale the targets, if it must stay in a range)")
    return None


def _beyond(held: torch.Tensor, free: torch.Tensor, below: bool) -> float:
    """How often a tied example's target lies beyond (below, or above) a free one's: P(held < free), ties half."""
    g = torch.Generator().manual_seed(0)
    held = held[torch.randperm(held.numel(), generator=g)[:2000]]
    free = free[torch.randperm(free.numel(), generator=g)[:2000]]
    if not held.numel() or not free.numel():
        return 0.0
    a, b = (held[:, None], free[None, :]) if below else (free[None, :], held[:, None])
    return float((a < b).float().mean() + 0.5 * (a == b).float().mean())
