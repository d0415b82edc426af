"""A model that computes something else in eval mode (code `loss_mismatch`): a failure check, any stage size.

Training steps run the model in train mode; evaluate() measures it in eval mode, and the goal is judged there. A
layer whose eval path differs from its training path by mistake (a hand-written BatchNorm whose running statistics
are assigned to local names, so that eval normalises with 0 and 1; running statistics never updated or updated from
other data) makes the two disagree: the model memorises its examples in train mode while the goal's measure stalls,
and no LR, init or easier stage helps. Measured on the trained weights (their state restored afterwards: train
mode updates running statistics) over up to `failure.eval_batches` (4) batches of the stage's batch size from its
first training examples, fetched once for both modes, with dropout off in train mode (its noise raises the
train-mode loss, never lowers it): fires when the eval-mode loss is at least `failure.eval_ratio` (3) x the
train-mode loss and above it by `failure.eval_gap` (0.25) x `Problem.chance_loss` (0.25 without one). A BatchNorm
whose running statistics lag behind fast-moving weights differs by a few percent, not several times.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from ..diagnosis import Diagnosis
from ..trainer import to_device
from .common import num
from .startchecks import preserved


def eval_mode_differs(ctx) -> Optional[Diagnosis]:
    run, problem, c = ctx.run, ctx.problem, ctx.cfg
    if ctx.unfit or run.model is None:
        return None  # one example cannot be fit: the model's training path is what fails
    size = max(1, min(run.settings.batch_size, problem.train_size))
    starts = range(0, min(problem.train_size, c.eval_batches * size) - size + 1, size)
    batches = [to_device(problem.get_batch(torch.arange(s, s + size)), run.settings.device) for s in starts]
    if not batches:
        return None
    with preserved(run):  # train mode updates running statistics: put back, with the mode, afterwards
        trained = _mean_loss(problem, run.model, batches, training=True)
        evaluated = _mean_loss(problem, run.model, batches, training=False)
    if trained is None or evaluated is None:
        return None
    chance = problem.chance_loss if problem.chance_loss and math.isfinite(problem.chance_loss) else 1.0
    if evaluated < c.eval_ratio * trained or evaluated - trained < c.eval_gap * chance:
        return None
    return Diagnosis(
        "loss_mismatch", "error",
        f"the trained model computes something else in eval mode: on {len(batches) * size} of its training examples "
        f"its loss is {num(trained)} in train mode (dropout off) and {num(evaluated)} in eval mode, where evaluate() "
        f"measures the goal: a layer whose eval path differs from its training path (running statistics never "
        f"updated, assigned to local names, or kept from other data), so training progress does not reach the goal",
        evidence={"train_mode": num(trained), "eval_mode": num(evaluated), "examples": len(batches) * size,
                  "eval_mode_differs": True},
        fix="check the layers that behave differently under model.eval(): a hand-written BatchNorm must update "
            "self.running_mean / self.running_var (registered buffers) in training and use them in eval; "
            "nn.BatchNorm's track_running_stats and momentum")


def _mean_loss(problem, model: nn.Module, batches: list, training: bool) -> Optional[float]:
    model.train(training)
    if training:  # dropout's noise off: what the weights compute, as the training path does
        for m in model.modules():
            if isinstance(m, nn.modules.dropout._DropoutNd):
                m.eval()
    with torch.no_grad():
        losses = [float(problem.loss(model, b)) for b in batches]
    if not all(math.isfinite(v) for v in losses):
        return None
    return sum(losses) / len(losses)
