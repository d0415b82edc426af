"""Splits built differently (code `labels_not_learnable`): a failure check, any stage size.

Fresh weights trained on some training examples learn something that carries over to other training examples
(their loss falls) but not to the held-out split (its loss, as the task's evaluate() reports it, does not): the two
splits do not pair inputs and targets the same way. A transformation applied to one split only (the training
targets reversed, a label mapping, another order or scaling of the inputs) is learnt and generalises within the
training split, while the held-out score stays where it started. Where the held-out score sits above a model blind
to the inputs (part of the transformation agrees: the end of a sequence, a symmetric case), the held-out check
(`held_out_blind`) cannot tell it from a hard problem; the model's training accuracy on examples it never saw can.

Measured on a stage whose goal is held-out and which failed: fresh weights trained `failure.label_iterations`
(200) steps on `failure.label_examples` (256) training examples (at most half of them), then their loss on as many
other training examples against the held-out loss of evaluate() (`val/loss`, the first held-out metric with
`loss` or `nll` in its name), each before and after. Judged only when both measure the same thing at fresh weights
(within `failure.splits_calibration`, 25%, of each other: a loss defined another way, summed or with a penalty,
is not compared), when the training side fell by `failure.splits_transfer` (25%) of its start or more, and fires
when the held-out loss fell by at most `failure.splits_carry` (0.1) x that fall. A last resort, like
`ignored_input`: not when the stage, a stage its weights came from or this failure's other checks said a warning or
an error (an LR lowered by the probe aside).
"""
from __future__ import annotations

import math
from typing import Optional

import torch

from ..diagnosis import Diagnosis
from ..trainer import to_device
from .common import num, training_side

LOSS_WORDS = ("loss", "nll")


def splits_differ(ctx) -> Optional[Diagnosis]:
    run, c = ctx.run, ctx.cfg
    if ctx.said_anything():  # a last resort, like ignored_input (held_out_blind naming the labels counts)
        return None
    if training_side(run.stage.goal.metric) is None:
        return None  # a goal on the training split: the held-out split is not what failed
    found = measure(ctx, held_out_loss(run.last_metrics or {}))
    if found is None:
        return None
    key, pool, held_n, (train0, val0), (train1, val1) = found
    if abs(train0 - val0) > c.splits_calibration * max(train0, val0):
        return None  # the two losses are not the same measure (a sum, a penalty, another reduction)
    transfer, carried = train0 - train1, val0 - val1
    if transfer < c.splits_transfer * train0 or carried > c.splits_carry * transfer:
        return None  # nothing general learnt within the training split, or it carries over to the held-out one
    return Diagnosis(
        "labels_not_learnable", "error",
        f"fresh weights trained on {pool} training examples lower the loss of {held_n} other training examples from "
        f"{num(train0)} to {num(train1)}, but the held-out {key} only from {num(val0)} to {num(val1)}: what the "
        f"training split teaches carries over within it and not to the held-out split, so the two pair inputs and "
        f"targets differently (a transformation of the targets or the inputs applied to one split only)",
        evidence={"metric": key, "train_before": num(train0), "train_after": num(train1), "held_out_before": num(val0),
                  "held_out_after": num(val1), "examples": pool, "other_examples": held_n, "splits_differ": True},
        fix="build both splits with the same code: print a few examples of each side by side (targets reversed, "
            "shifted or mapped, inputs scaled or ordered differently in one split only)")


def measure(ctx, key: Optional[str]) -> Optional[tuple]:
    """(key, examples trained on, other examples, (their loss, held-out loss) before, the same after), or None when
    there is no held-out loss, too few training examples to keep some apart, or a loss that is not finite."""
    from .failure import _train, spread
    run, problem, c = ctx.run, ctx.problem, ctx.cfg
    pool = min(c.label_examples, problem.train_size // 2)
    held_n = min(pool, problem.train_size - pool)
    if key is None or held_n < c.label_batch * 2:
        return None
    order = spread(problem.train_size, pool)
    chosen, held = order[:pool], to_device(problem.get_batch(order[pool:pool + held_n]), run.settings.device)
    model = ctx.fresh_model()
    before = _losses(problem, model, held, key)
    _train(ctx, model, lambda idx: to_device(problem.get_batch(chosen[idx]), run.settings.device),
           c.label_iterations, pool)
    after = _losses(problem, model, held, key)
    return None if before is None or after is None else (key, pool, held_n, before, after)


def held_out_loss(metrics: dict) -> Optional[str]:
    """The held-out loss among the task's metrics: `val/loss` first, else the first held-out metric named like one."""
    names = [k for k in metrics if training_side(k) and any(w in k.lower() for w in LOSS_WORDS)]
    return next((k for k in names if k.lower().endswith("loss")), names[0] if names else None)


def _losses(problem, model, held, key: str) -> Optional[tuple[float, float]]:
    """(the task's loss on the held training examples, evaluate()'s held-out loss), in eval mode."""
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            train, val = float(problem.loss(model, held)), dict(problem.evaluate(model)).get(key)
    finally:
        model.train(was)
    if not isinstance(val, (int, float)) or not (math.isfinite(train) and math.isfinite(val)) or min(train, val) <= 0:
        return None
    return train, float(val)
