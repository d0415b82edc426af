"""Outputs that cannot reach their targets (code `loss_floor`, error): a failure check, any stage size.

A regression head squashed by a tanh or a sigmoid (`torch.tanh(self.out(h))` on standardised targets, a sigmoid on
targets in [-1, 1]) cannot reach the targets beyond its range, however long it trains. The functional call leaves no
module for the saturation checks to watch, one example may still fit (its target inside the range), and the ladder
inserts easier stages and searches LRs that cannot help (benchmarks/holdout47's yields, holdout46's rings). What
shows after training: the outputs pressed against an edge of (-1, 1) or (0, 1), never past it, while the targets
lie beyond it.

Measured on a failed stage, on up to `failure.label_examples` (256) training examples, in eval mode, for real-valued
targets shaped like the outputs: the trained model's outputs all within (-1, 1) or (0, 1) (to 1e-6), at least
`failure.bound_pinned` (10%) of them within `failure.bound_margin` (0.02) of an edge, and at least
`failure.bound_beyond` (10%) of the targets past that edge by more than the margin.
"""
from __future__ import annotations

from typing import Optional

import torch

from ..diagnosis import Diagnosis
from ..trainer import to_device
from .common import batch_targets, num, run_model

RANGES = ((-1.0, 1.0, "tanh"), (0.0, 1.0, "sigmoid"))


def unreachable_targets(ctx) -> Optional[Diagnosis]:
    from .failure import spread
    run, problem, c = ctx.run, ctx.problem, ctx.cfg
    pool = min(problem.train_size, c.label_examples)
    batch = to_device(problem.get_batch(spread(problem.train_size, pool)[:pool]), run.settings.device)
    targets = batch_targets(problem, batch)
    if not isinstance(targets, torch.Tensor) or not targets.is_floating_point():
        return None
    model, was = run.model, run.model.training
    model.eval()
    try:
        with torch.no_grad():
            out = run_model(problem, model, batch)
    finally:
        model.train(was)
    if not isinstance(out, torch.Tensor) or out.numel() != targets.numel() or not out.is_floating_point():
        return None
    out, y = out.detach().float().reshape(-1), targets.detach().float().reshape(-1).to(out.device)
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
