"""An augmentation that changes what the targets describe (code `labels_not_learnable`): a failure check, any size.

A batch function that augments at random (two fetches of the same examples differ in their inputs, not in their
targets) may transform an input without its target: a mirrored clock face that keeps its hour, a flipped image
whose mask is not flipped. Each fetch then pairs some inputs with targets that describe another input, and the
model learns a blur of both. No fixed fetch tells this apart (it holds the wrong pairs too), but the random choice
itself can be fixed: the random number generators seeded alike before each single-example fetch give every
example the same transformation. Fresh weights trained on `failure.augment_versions` (6) such consistent versions of
the training examples (the seeds whose fetches of one example differ most, each next one the farthest from those
chosen: a transform made half the time is then among them) learn as many mappings; where the transform keeps the
targets true, they predict held-out examples alike, and where it changes what they describe, a version trained on
transformed inputs is systematically wrong on untransformed ones. Fires when
- one version's held-out loss is `failure.augment_ratio` (3) x another's and at least `failure.augment_floor` (1.0)
  x `Problem.chance_loss`: worse than guessing. A proper transform that the held-out split never shows (a shift by
  one pixel of 8x8 digits, all one way) leaves a model confused, not systematically wrong: holdout10's clean
  resnet, over its consistent shifts, 0.08-1.94 against chance 2.30; or
- (one class per example) a version's model labels another version's examples (64 after the pool, which neither
  trained on) consistently as other classes, while the two most different versions trained together predict their
  unseen examples at least `failure.augment_confirm` (1.3) x worse than each alone (see below): a one-to-one
  relabelling of the classes explains `failure.augment_gap` (0.15) more of its predictions than the targets do, both
  ways round, and about as much as that version's own model gets right. A mirror that swaps 2 pairs of 7 tetrominoes
  keeps the held-out loss at 1.8x, below chance; the gap was 0.30-0.45 there and for time-reversed chirps, at most
  0.06 on the clean augmenting families (resnet's shifts, vgg, tetromino's quarter turns, chirps' shifts and gains);
  or
- (any targets) fresh weights trained on the two most different versions together predict their unseen examples
  `failure.augment_mix` (2) x worse, and `failure.augment_margin` (0.05) x chance_loss worse, than each version's own
  model predicts its own: one function fits both versions where the transform keeps the targets true; where it does
  not, the same targets go with inputs that mean different things (a mirrored board whose attacked squares are kept).

Measured on a failed stage with a held-out loss (`val/loss`), on up to `failure.label_examples` (256) examples,
`failure.label_iterations` (200) steps each. `check_skipped` (info) when the batch function's randomness does not
follow the seeded generators (the global ones, and a torch or NumPy generator in its closure or on its object) or
its examples do not stack into one batch (padded sequences of several lengths); not run when a check of this
failure already named the labels.
"""
from __future__ import annotations

import math
import random
from typing import Any, Optional

import numpy
import torch

from ..diagnosis import Diagnosis
from ..trainer import to_device
from .common import batch_targets, num, run_model, same_sequence, tensors_in
from .splits import _losses, held_out_loss
from .startchecks import same_batch, skipped, take

CHECK = "augmentation_breaks_labels"
SEEDS = 16  # candidate seeds, of which the `augment_versions` whose fetches of one example differ most are kept
UNSEEN = 64  # examples after the pool, in each version, on which the versions' models are compared
FIX = ("transform the targets with the inputs (a mirrored image's label, mask, boxes or angle mirrored too), or leave "
       "out a transform the task is not invariant to")


def augmentation_breaks_labels(ctx) -> Optional[Diagnosis]:
    run, problem, c = ctx.run, ctx.problem, ctx.cfg
    if ctx.labels_named or ctx.lr_suspect or ctx.unfit:
        return None
    key, chance = held_out_loss(run.last_metrics or {}), problem.chance_loss
    if key is None or not chance or not math.isfinite(chance) or problem.train_size < 2 * c.label_batch:
        return None
    if not _augments(problem):
        return None
    # the batch function augments: from here on, no verdict is said as check_skipped (info), with the reason
    seeds = _most_different_seeds(problem, c.augment_versions)
    if seeds is None:
        return skipped(CHECK, "the batch function transforms inputs at random, but seeding the random generators "
                              "does not fix its transform (a generator it does not show), so no consistent version "
                              "of the examples can be made")
    unseen = min(UNSEEN, problem.train_size // 4)
    pool = min(problem.train_size - unseen, c.label_examples)
    versions = [_consistent(problem, pool + unseen, s) for s in seeds]
    if any(v is None for v in versions):
        return skipped(CHECK, "the batch function transforms inputs at random, but its examples, fetched one at a "
                              "time, do not stack into one batch (tensors of different shapes)")
    from .failure import _train
    models, fitted = [], []  # per version: its model; (its own examples' loss, the held-out loss), in eval mode
    for version in versions:
        model = ctx.fresh_model()
        batch = to_device(version, run.settings.device)
        _train(ctx, model, lambda idx: take(batch, idx), c.label_iterations, pool)
        losses = _losses(problem, model, take(batch, torch.arange(min(pool, 64))), key)
        if losses is None:
            return None
        models.append(model)
        fitted.append(losses)
    evidence = {"metric": key, "seeds": list(seeds), "examples": pool, "chance": num(chance), "augmentation": True}
    found = _wrong_on_held_out(fitted, seeds, pool, key, chance, c, evidence)
    if found is not None:
        return found
    after_pool = torch.arange(pool, pool + unseen)
    unseen_batches = [to_device(take(v, after_pool), run.settings.device) for v in versions]
    mixed = _mixed(ctx, models, versions, unseen_batches, pool)
    if mixed is None:
        return None
    alone, together = mixed
    evidence.update(alone=num(alone), together=num(together))
    if together >= c.augment_confirm * alone and together - alone >= c.augment_margin * chance:
        # a relabelling counts only where mixing the versions hurts too: a model of one version may confuse another
        # version's classes where the transform keeps them (a circular shift's wrapped edge in holdout40's ecg: 88%
        # relabelled, and the two versions trained together fit both)
        found = _relabelled(problem, models, unseen_batches, seeds, pool, c, evidence)
    if found is None and together >= c.augment_mix * alone and together - alone >= c.augment_margin * chance:
        found = _mixed_worse(seeds, pool, alone, together, evidence)
    return found


def _mixed(ctx, models: list, versions: list, unseen: list, pool: int) -> Optional[tuple[float, float]]:
    """(the two most different versions' own models on their unseen examples, fresh weights trained on both versions
    together on the same), mean losses. Where the transform keeps the targets true, the two versions teach one
    function and more of it helps; where it changes what they describe, each example's target goes with two inputs
    that mean different things, and the model can only split the difference."""
    from .failure import _train
    i, j = 0, 1  # the most different pair: _most_different_seeds puts it first
    own = [_unseen_loss(ctx.problem, models[k], unseen[k]) for k in (i, j)]
    first = torch.arange(pool)
    both = _stack([take(versions[i], first), take(versions[j], first)])
    if any(v is None for v in own) or both is None:
        return None
    both = to_device(both, ctx.run.settings.device)
    model = ctx.fresh_model()
    _train(ctx, model, lambda idx: take(both, idx), 2 * ctx.cfg.label_iterations, 2 * pool)
    mixed = [_unseen_loss(ctx.problem, model, unseen[k]) for k in (i, j)]
    if any(v is None for v in mixed):
        return None
    return sum(own) / 2, sum(mixed) / 2


def _mixed_worse(seeds: tuple, pool: int, alone: float, together: float, evidence: dict) -> Diagnosis:
    """Any targets (positions, real values): the two versions trained together predict their unseen examples
    `augment_mix` (2) x worse than each version's own model (a board mirrored, its attacked squares not: holdout50's
    chessboards; an image shifted, its ring's centre not: holdout46's rings)."""
    return Diagnosis(
        "labels_not_learnable", "error",
        f"the batch function transforms inputs at random without changing their targets, and the transform changes "
        f"what the targets describe: fresh weights trained on {pool} training examples all transformed one way, or "
        f"all another way, predict unseen examples transformed the same way with a loss of {num(alone)}, but trained "
        f"on both versions together {num(together)}: the same targets go with inputs that mean different things",
        evidence={**evidence, "versions": [seeds[0], seeds[1]]}, fix=FIX)


def _unseen_loss(problem, model, batch) -> Optional[float]:
    model.eval()
    with torch.no_grad():
        value = float(problem.loss(model, batch))
    return value if math.isfinite(value) else None


def _wrong_on_held_out(fitted: list, seeds: tuple, pool: int, key: str, chance: float, c, evidence: dict):
    """One version's held-out loss `augment_ratio` x another's and worse than guessing: trained on inputs transformed
    that way, the model is systematically wrong on untransformed held-out examples."""
    order = sorted(range(len(fitted)), key=lambda k: fitted[k][1])
    g, b = order[0], order[-1]
    (train_g, good), (train_b, bad) = fitted[g], fitted[b]
    if not (bad >= c.augment_ratio * good and bad >= c.augment_floor * chance):
        return None
    return Diagnosis(
        "labels_not_learnable", "error",
        f"the batch function transforms inputs at random without changing their targets, and the transform changes "
        f"what the targets describe: fresh weights trained on {pool} training examples all transformed one way "
        f"reach a held-out {key} of {num(good)}, all transformed another way {num(bad)} (chance {num(chance)}), "
        f"although both fit their own examples ({num(train_g)}, {num(train_b)}): trained on one version, the model "
        f"is systematically wrong on held-out examples",
        evidence={**evidence, "held_out": [num(good), num(bad)], "train": [num(train_g), num(train_b)],
                  "versions": [seeds[g], seeds[b]]},
        fix=FIX)


def _relabelled(problem, models: list, unseen: list, seeds: tuple, pool: int, c, evidence: dict):
    """Class targets: a model trained on one version labels the held examples of another version consistently as
    other classes (a one-to-one relabelling explains `augment_gap` more of its predictions than the targets, both
    ways round, and about as much as that version's own model gets right): the transform between the two versions
    turns an input of one class into one of another (a mirrored S-tetromino is a Z; a time-reversed up-chirp a
    down-chirp), while a transform the task is invariant to leaves a model confused at worst. Up to 2 of 7 or 6
    classes swapped stay below the held-out loss ratio (holdout36's tetromino: 1.8x)."""
    targets = [batch_targets(problem, batch) for batch in unseen]
    if not all(isinstance(y, torch.Tensor) and y.ndim == 1 and not y.is_floating_point() for y in targets):
        return None  # not one class per example
    accuracy = {}  # (model i, version j) -> (targets kept, best one-to-one relabelling)
    for i, model in enumerate(models):
        model.eval()  # a copy trained for this check alone
        for j, (batch, y) in enumerate(zip(unseen, targets)):
            with torch.no_grad():
                out = run_model(problem, model, batch)
            if not (isinstance(out, torch.Tensor) and out.ndim == 2 and len(out) == len(y)):
                return None  # not one class score per example
            accuracy[i, j] = _accuracies(out.argmax(-1).cpu(), y.cpu())
    best = None
    for (i, j), (kept, relabelled) in accuracy.items():
        if i == j:
            continue
        gap = min(relabelled - kept, accuracy[j, i][1] - accuracy[j, i][0])
        if relabelled >= accuracy[j, j][0] - c.augment_gap and (best is None or gap > best[0]):
            best = (gap, i, j)
    if best is None or best[0] < c.augment_gap:
        return None
    gap, i, j = best
    kept, relabelled = accuracy[i, j]
    return Diagnosis(
        "labels_not_learnable", "error",
        f"the batch function transforms inputs at random without changing their targets, and the transform changes "
        f"which class an input shows: fresh weights trained on {pool} training examples all transformed one way "
        f"label the same kind of examples transformed another way as other classes, consistently: a one-to-one "
        f"relabelling of the classes explains {relabelled:.0%} of its predictions on them, the targets kept "
        f"{kept:.0%} (that version's own model: {accuracy[j, j][0]:.0%}), and the other way round alike",
        evidence={**evidence, "versions": [seeds[i], seeds[j]], "kept": round(kept, 3),
                  "relabelled": round(relabelled, 3), "own": round(accuracy[j, j][0], 3), "gap": round(gap, 3)},
        fix=FIX)


def _accuracies(pred: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """The share of predictions equal to the targets, and equal to them after the best one-to-one relabelling of the
    classes (greedy on the confusion counts: a lower bound, never below the targets' own share)."""
    n = max(int(pred.max()), int(y.max())) + 1
    confusion = torch.zeros(n, n)
    confusion.index_put_((y, pred), torch.ones(len(y)), accumulate=True)
    kept = float(confusion.diag().sum())
    matched, left = 0.0, confusion.clone()
    while float(left.max()) > 0:
        k = int(left.argmax())
        a, b = divmod(k, n)
        matched += float(left[a, b])
        left[a, :], left[:, b] = -1, -1
    return kept / len(y), max(kept, matched) / len(y)


def _seed(s: int, held: list) -> None:
    """Seed the global generators and those the batch function holds (a torch.Generator of its own)."""
    torch.manual_seed(s)
    random.seed(s)
    numpy.random.seed(s)
    for g in held:
        if isinstance(g, torch.Generator):
            g.manual_seed(s)
        elif isinstance(g, numpy.random.RandomState):
            g.seed(s)
        else:  # numpy.random.Generator
            g.bit_generator.state = type(g.bit_generator)(s).state


def _held_generators(fn) -> list:
    """The random generators a batch function holds: in its closure, or as attributes of its object (a method)."""
    values = []
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            values.append(cell.cell_contents)
        except ValueError:  # an empty cell
            pass
    owner = getattr(fn, "__self__", None)
    values += list(getattr(owner, "__dict__", {}).values())
    kinds = (torch.Generator, numpy.random.RandomState, numpy.random.Generator)
    return [v for v in values if isinstance(v, kinds)]


def _augments(problem, fetches: int = 6) -> bool:
    """Some of `fetches` fetches of the same examples differ in their inputs, not in their targets (a transform drawn
    once per batch agrees with itself by chance: one quarter turn in four; five times, one in 1024)."""
    return refetch_differs(problem, lambda one, two: inputs_vary(problem, one, two), fetches)


def drawn_anew(problem, fetches: int = 4) -> bool:
    """Fetching the same examples again gives another batch (a random transform, noise, a random pairing)."""
    return refetch_differs(problem, lambda one, two: not same_batch(one, two), fetches)


def refetch_differs(problem, differ, fetches: int) -> bool:
    """`differ(first, again)` for one of `fetches` - 1 fetches of the first 8 training examples after the first."""
    idx = torch.arange(min(problem.train_size, 8))
    first = problem.get_batch(idx)
    return any(differ(first, problem.get_batch(idx)) for _ in range(fetches - 1))


def inputs_vary(problem, one: Any, two: Any) -> bool:
    """Two fetches of the same examples differ in their inputs and not in their targets: the batch function augments
    at random (fetches whose targets differ too read on through a stream: truncated BPTT's next chunks)."""
    return not same_batch(one, two) and same_batch(batch_targets(problem, one), batch_targets(problem, two))


def _most_different_seeds(problem, k: int = 2) -> Optional[tuple]:
    """`k` seeds whose single fetches of example 0 differ most (each next one the farthest from those chosen: a
    transform that breaks the targets half the time is then among them); None when a seed does not fix the fetch (the
    batch function draws from a generator it does not show) or no seed changes it."""
    held = _held_generators(problem.get_batch)
    state = _rng_state(held)
    try:
        fetches = []
        for s in range(SEEDS):
            twice = []
            for _ in range(2):
                _seed(s, held)
                twice.append(_flat(problem.get_batch(torch.arange(1))))
            if any(f is None for f in twice) or twice[0].shape != twice[1].shape or not torch.equal(*twice):
                return None
            fetches.append(twice[0])
    finally:
        _set_rng_state(state, held)
    if any(f.shape != fetches[0].shape for f in fetches):
        return None
    apart = [[float((a - b).abs().sum()) for b in fetches] for a in fetches]
    first = max(((a, b) for a in range(SEEDS) for b in range(a + 1, SEEDS)), key=lambda ab: apart[ab[0]][ab[1]])
    if apart[first[0]][first[1]] == 0.0:
        return None
    chosen = list(first)
    while len(chosen) < min(k, SEEDS):
        chosen.append(max((s for s in range(SEEDS) if s not in chosen), key=lambda s: min(apart[s][c] for c in chosen)))
    return tuple(chosen)


def _consistent(problem, pool: int, s: int) -> Optional[Any]:
    """The first `pool` training examples, each fetched alone after seeding the generators with `s` (so each gets
    the same random transform), stacked into one batch; None when they do not stack."""
    held = _held_generators(problem.get_batch)
    state = _rng_state(held)
    try:
        parts = []
        for i in range(pool):
            _seed(s, held)
            parts.append(problem.get_batch(torch.tensor([i])))
    finally:
        _set_rng_state(state, held)
    return _stack(parts)


def _stack(parts: list) -> Optional[Any]:
    """Single-example batches concatenated into one (tensors, tuples, lists or dicts of them); None if they do not."""
    first = parts[0]
    try:
        if isinstance(first, torch.Tensor):
            return torch.cat(parts)
        if isinstance(first, (tuple, list)):
            return same_sequence(first, [_stack([p[k] for p in parts]) for k in range(len(first))])
        if isinstance(first, dict):
            return {k: _stack([p[k] for p in parts]) for k in first}
    except (RuntimeError, TypeError, KeyError, IndexError):
        return None
    return None


def _flat(batch: Any) -> Optional[torch.Tensor]:
    """The batch's floating-point inputs as one vector (what a transform changes)."""
    ts = [t.detach().reshape(-1).double().cpu() for t in tensors_in(batch) if t.is_floating_point()]
    return torch.cat(ts) if ts else None


def _rng_state(held: list) -> tuple:
    own = [g.get_state() if isinstance(g, (torch.Generator, numpy.random.RandomState)) else g.bit_generator.state
           for g in held]
    return torch.get_rng_state(), random.getstate(), numpy.random.get_state(), own


def _set_rng_state(state: tuple, held: list) -> None:
    torch.set_rng_state(state[0])
    random.setstate(state[1])
    numpy.random.set_state(state[2])
    for g, st in zip(held, state[3]):
        if isinstance(g, torch.Generator):
            g.set_state(st)
        elif isinstance(g, numpy.random.RandomState):
            g.set_state(st)
        else:
            g.bit_generator.state = st
