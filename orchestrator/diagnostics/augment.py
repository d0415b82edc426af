"""An augmentation that changes what the targets describe (code `labels_not_learnable`): a failure check, any size.

A batch function that augments at random (two fetches of the same examples differ in their inputs, not in their
targets) may transform an input without its target: a mirrored clock face that keeps its hour, a flipped image
whose mask is not flipped. Each fetch then pairs some inputs with targets that describe another input, and the
model learns a blur of both. No fixed fetch tells this apart (it holds the wrong pairs too), but the random choice
itself can be fixed: the random number generators seeded alike before each single-example fetch give every
example the same transformation. Fresh weights trained on two such consistent versions of the training examples
(the two seeds whose fetches of one example differ most: flipped and not) then learn two mappings; where the
transform keeps the targets true, both predict held-out examples alike, and where it changes what they describe,
the version trained on transformed inputs is systematically wrong on untransformed held-out ones: its held-out
loss is `failure.augment_ratio` (3) x the other's and above `Problem.chance_loss` (worse than guessing).

Measured on a failed stage with a held-out loss (`val/loss`), on up to `failure.label_examples` (256) examples,
`failure.label_iterations` (200) steps each; not when the batch function's randomness does not follow the seeded
generators (its own generator), when examples do not stack into one batch (padded sequences of several lengths),
or when a check of this failure already named the labels.
"""
from __future__ import annotations

import math
import random
from typing import Any, Optional

import torch

from ..diagnosis import Diagnosis
from ..trainer import to_device
from .common import batch_targets, num, training_side
from .splits import _losses, held_out_loss
from .startchecks import same_batch

SEEDS = 16  # candidate seeds, of which the two whose fetches of one example differ most are kept


def augmentation_breaks_labels(ctx) -> Optional[Diagnosis]:
    run, problem, c = ctx.run, ctx.problem, ctx.cfg
    if ctx.labels_named or ctx.lr_suspect or ctx.unfit or training_side(run.stage.goal.metric) is None:
        return None
    key, chance = held_out_loss(run.last_metrics or {}), problem.chance_loss
    if key is None or not chance or not math.isfinite(chance) or problem.train_size < 2 * c.label_batch:
        return None
    if not _augments(problem):
        return None
    seeds = _most_different_seeds(problem)
    if seeds is None:
        return None
    pool = min(problem.train_size, c.label_examples)
    versions = [_consistent(problem, pool, s) for s in seeds]
    if any(v is None for v in versions):
        return None
    from .failure import _train
    held = []
    for version in versions:
        model = ctx.fresh_model()
        batch = to_device(version, run.settings.device)
        _train(ctx, model, lambda idx: _take(batch, idx), c.label_iterations, pool)
        losses = _losses(problem, model, _take(batch, torch.arange(min(pool, 64))), key)
        if losses is None:
            return None
        held.append(losses)
    (train_a, val_a), (train_b, val_b) = held
    good, bad = sorted((val_a, val_b))
    if not (bad >= c.augment_ratio * good and bad > chance):
        return None
    return Diagnosis(
        "labels_not_learnable", "error",
        f"the batch function transforms inputs at random without changing their targets, and the transform changes "
        f"what the targets describe: fresh weights trained on {pool} training examples all transformed one way "
        f"reach a held-out {key} of {num(good)}, all transformed the other way {num(bad)} (chance {num(chance)}: "
        f"systematically wrong on held-out examples), although both fit their own examples "
        f"({num(train_a)}, {num(train_b)})",
        evidence={"metric": key, "held_out": [num(val_a), num(val_b)], "train": [num(train_a), num(train_b)],
                  "seeds": list(seeds), "examples": pool, "chance": num(chance), "augmentation": True},
        fix="transform the targets with the inputs (a mirrored image's label, mask, boxes or angle mirrored too), or "
            "leave out a transform the task is not invariant to")


def _seed(s: int) -> None:
    torch.manual_seed(s)
    random.seed(s)
    try:
        import numpy
        numpy.random.seed(s)
    except ImportError:  # pragma: no cover - numpy comes with torch's usual installs
        pass


def _augments(problem) -> bool:
    """Two fetches of the same examples differ in their inputs and not in their targets."""
    idx = torch.arange(min(problem.train_size, 8))
    one, two = problem.get_batch(idx), problem.get_batch(idx)
    return not same_batch(one, two) and same_batch(batch_targets(problem, one), batch_targets(problem, two))


def _most_different_seeds(problem) -> Optional[tuple[int, int]]:
    """The two seeds whose single fetches of example 0 differ most; None when a seed does not fix the fetch (the
    batch function draws from a generator of its own) or no seed changes it."""
    state = _rng_state()
    try:
        fetches = []
        for s in range(SEEDS):
            _seed(s)
            fetches.append(_flat(problem.get_batch(torch.arange(1))))
        _seed(0)
        again = _flat(problem.get_batch(torch.arange(1)))
    finally:
        _set_rng_state(state)
    if any(f is None or f.shape != fetches[0].shape for f in fetches + [again]) or not torch.equal(again, fetches[0]):
        return None
    best, pair = 0.0, None
    for a in range(SEEDS):
        for b in range(a + 1, SEEDS):
            d = float((fetches[a] - fetches[b]).abs().sum())
            if d > best:
                best, pair = d, (a, b)
    return pair


def _consistent(problem, pool: int, s: int) -> Optional[Any]:
    """The first `pool` training examples, each fetched alone after seeding the generators with `s` (so each gets
    the same random transform), stacked into one batch; None when they do not stack."""
    state = _rng_state()
    try:
        parts = []
        for i in range(pool):
            _seed(s)
            parts.append(problem.get_batch(torch.tensor([i])))
    finally:
        _set_rng_state(state)
    return _stack(parts)


def _stack(parts: list) -> Optional[Any]:
    first = parts[0]
    try:
        if isinstance(first, torch.Tensor):
            return torch.cat(parts)
        if isinstance(first, (tuple, list)):
            return type(first)(_stack([p[k] for p in parts]) for k in range(len(first)))
        if isinstance(first, dict):
            return {k: _stack([p[k] for p in parts]) for k in first}
    except (RuntimeError, TypeError, KeyError, IndexError):
        return None
    return None


def _take(batch: Any, idx: torch.Tensor) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch[idx.to(batch.device)]
    if isinstance(batch, (tuple, list)):
        return type(batch)(_take(b, idx) for b in batch)
    return {k: _take(v, idx) for k, v in batch.items()}


def _flat(batch: Any) -> Optional[torch.Tensor]:
    """The batch's floating-point inputs as one vector (what a transform changes)."""
    ts = []
    stack = [batch]
    while stack:
        b = stack.pop(0)
        if isinstance(b, torch.Tensor):
            if b.is_floating_point():
                ts.append(b.detach().reshape(-1).double().cpu())
        elif isinstance(b, (tuple, list)):
            stack.extend(b)
        elif isinstance(b, dict):
            stack.extend(b.values())
    return torch.cat(ts) if ts else None


def _rng_state() -> tuple:
    import numpy
    return torch.get_rng_state(), random.getstate(), numpy.random.get_state()


def _set_rng_state(state: tuple) -> None:
    import numpy
    torch.set_rng_state(state[0])
    random.setstate(state[1])
    numpy.random.set_state(state[2])
