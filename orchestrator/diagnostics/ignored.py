"""An input the trained model learnt to ignore (code `labels_not_learnable`): a failure check, any stage size.

A model that is given an input it can read (fresh weights answer differently when that input is swapped between
examples) but that, trained, answers the same whether or not the input is swapped, has learnt that this input
says nothing about the targets. When the stage failed to fit its training examples and the model does use its
other inputs, the likeliest reason is that the data pairs that input with other examples' targets: one array of
the training split shuffled, sorted or shifted on its own (a question apart from its image and answer). The
label check misses it where the other inputs still predict part of the targets, so real labels beat shuffled
ones; the held-out check too, where the held-out split is paired right and the model scores above a blind one.

Measured on up to `failure.label_examples` (256) training examples in eval mode, on a stage that trained at least
`failure.label_iterations` (200) iterations: each batch-first input tensor swapped between examples (a
derangement), the loss of the trained weights against the loss as given. Ignored: within `failure.ignored_change`
(2%) of it. Used: `failure.ignored_used` (1.1) x it or more. Judged ignored only: ids (integer inputs: a question,
a task, a category) and inputs that fresh weights read at least a quarter as much as the used ones; not lengths
and masks, which only describe another input's padding, nor an input of little weight from the start (the state a
chunk of truncated BPTT starts from). A last resort: not
judged when the stage or this failure's other checks said any warning or error (an LR lowered by the probe aside:
a model that ignores an input for a reason already named, a mask or a detached encoder, must not have it blamed on
the data), or when the loss is already small (below `failure.label_memorised` x the chance loss: the training
examples are fit).
"""
from __future__ import annotations

import math
from typing import Any, Optional

import torch

from ..diagnosis import Diagnosis
from ..trainer import to_device
from .common import batch_targets, num, same_sequence
from .startchecks import examples_in


def ignored_input(ctx) -> Optional[Diagnosis]:
    from .failure import spread
    run, problem, c = ctx.run, ctx.problem, ctx.cfg
    if ctx.said_anything():  # a last resort: an input ignored for a reason already named is not the data's fault
        return None
    pool = min(problem.train_size, c.label_examples)
    if pool < 4 or run.iteration < c.label_iterations:
        return None  # too few examples to swap, or too short a training to have learnt to ignore anything
    batch = to_device(problem.get_batch(spread(problem.train_size, pool)[:pool]), run.settings.device)
    targets = batch_targets(problem, batch)
    inputs = {k: v for k, v in examples_in(batch, pool) if v is not targets}
    if len(inputs) < 2:
        return None  # one input: the label check compares real and shuffled labels for it
    g = torch.Generator().manual_seed(0)
    order = torch.randperm(pool, generator=g)
    swap = torch.empty_like(order)
    swap[order] = order.roll(1)  # a derangement: no example keeps its own value
    model, fresh = run.model, ctx.fresh_model()
    was = model.training
    model.eval(), fresh.eval()
    try:
        with torch.no_grad():
            base = float(problem.loss(model, batch))
            chance = problem.chance_loss
            if not (math.isfinite(base) and base > 0) or (chance and base < c.label_memorised * chance):
                return None
            changes, read, fresh_loss = {}, {}, float(problem.loss(fresh, batch))
            for key, value in inputs.items():
                swapped = value[swap.to(value.device)]
                if torch.equal(swapped, value):
                    continue  # every example holds the same value: nothing to swap
                other = _replaced(batch, key, swapped)
                try:
                    changes[key] = float(problem.loss(model, other)) / base
                    # how much fresh weights read it: their loss's move when it is swapped (the loss runs any layout)
                    read[key] = abs(float(problem.loss(fresh, other)) / fresh_loss - 1)
                except Exception:  # noqa: BLE001 - a swap the task cannot run (lengths beyond another source)
                    continue
    finally:
        model.train(was)
    used = [k for k, r in changes.items() if r >= c.ignored_used]
    if not used:
        return None
    # judged: ids (a question, a task, a category), or inputs fresh weights read a quarter as much as the used ones
    # at least. Not an input of little weight from the start (the state a chunk of truncated BPTT starts from: a clean
    # LSTM paid it 0.1% heed), nor lengths and masks, which only describe another input's padding
    most = max(read.get(k, 0.0) for k in used)
    ignored = [k for k, r in changes.items() if abs(r - 1) <= c.ignored_change and read.get(k, 0.0) > 1e-6
               and (_ids(inputs[k]) or read[k] >= 0.25 * most)
               and not _describes(inputs[k], [v for j, v in inputs.items() if j != k])]
    if not ignored:
        return None
    name = _name(batch, ignored[0])
    return Diagnosis(
        "labels_not_learnable", "error",
        f"the trained model ignores input {name}: swapping it between training examples changes the loss by "
        f"{abs(changes[ignored[0]] - 1):.1%}, while swapping {_name(batch, used[0])} raises it "
        f"{num(changes[used[0]])}x, although fresh weights read it. It learnt that {name} says nothing about the "
        f"targets: in the training data it does not go with its own example (shuffled, sorted or shifted apart "
        f"from the rest)",
        evidence={"ignored": [_name(batch, k) for k in ignored], "used": [_name(batch, k) for k in used],
                  "loss": num(base), "loss_ratio_when_swapped": {_name(batch, k): num(r) for k, r in changes.items()},
                  "examples": pool},
        fix=f"check that {name} is indexed, shuffled and split together with the other inputs and the targets "
            "(one array permuted, sorted or filtered on its own)")


def _ids(v: torch.Tensor) -> bool:
    return not (v.is_floating_point() or v.is_complex() or v.dtype == torch.bool)


def _describes(v: torch.Tensor, others: list) -> bool:
    """A mask (boolean, the leading shape of another input) or lengths (integers from 1 up to another input's second
    dimension, its padded width)."""
    if v.dtype == torch.bool:
        return any(o.dim() >= v.dim() and o.shape[:v.dim()] == v.shape for o in others)
    if v.dim() != 1 or v.is_floating_point() or v.numel() == 0:
        return False
    low, high = int(v.min()), int(v.max())
    return low >= 1 and any(o.dim() >= 2 and high <= o.shape[1] for o in others)


def _replaced(batch: Any, key, value) -> Any:
    if isinstance(batch, dict):
        return {**batch, key: value}
    return same_sequence(batch, [value if i == key else v for i, v in enumerate(batch)])


def _name(batch: Any, key) -> str:
    return f"'{key}'" if isinstance(batch, dict) else f"#{key} of the batch tuple"
