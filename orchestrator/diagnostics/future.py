"""A position that sees its own target (code `leakage`, error; judged at each stage's start).

Next-token prediction (a language model, a decoder trained with teacher forcing) feeds the model the
targets shifted right by one: the input at position t+1 is the target at position t. A causal mask (or a
recurrent decoder) keeps the output at position t from seeing inputs after t; a mask that is off by one,
transposed or missing lets it read its own answer, and the model converges beautifully on data it
could never predict. No best loss is needed to see this: change the inputs that hold targets t >= j and
the outputs at positions <= j must not move.

It looks for that layout itself: some integer tensor in the batch whose column t+1 equals the targets'
column t on at least 75% of the positions whose target is not the commonest value, padding (the batch
itself for an LM that slices `tokens[:, :-1]` / `tokens[:, 1:]`, a `tgt_in` for a seq2seq decoder, the past
values of a series whose next values are the targets: `series[:, :-1]` / `series[:, 1:]`), or a
target-side input (named like the targets, `tgt_in`, or a tuple item between the source and the targets)
whose column t equals the targets' column t (a decoder input sliced like the targets, not shifted) or column t+1
(shifted left: `t[1:] + [PAD]` where `[BOS] + t[:-1]` was meant), or a source
that does, fed to a model causal over it (an LM whose labels are not shifted: see _reads_own_target);
the targets must be one per position (token ids, or a series' values: then a floating input, each later
value moved by the series' spread), and the outputs position-first like them. A source that equals the targets under
an encoder that sees all of it (a copy task) is no leak. The model runs in eval mode without
gradients on up to 8 examples, one at a time (in training mode, on a copy, with one dropout mask, when every early
output is non-finite in eval mode); outputs that move by more than 1e-4 of their scale count, at the positions
the loss reads (_scored).
"""
from __future__ import annotations

import copy
from typing import Any, Optional

import torch

from ..diagnosis import Diagnosis
from .common import (TARGET_NAMES, _holds_targets, _sequences, aligned_inputs, batch_targets, num, run_model,
                     same_sequence, shifted_inputs)
from .startchecks import batch_first, skipped, take


EXAMPLES = 8  # examples tested one at a time


def future_leak(problem, model, batch: Any) -> Optional[Diagnosis]:
    targets = batch_targets(problem, batch)
    if not _position_targets(targets):
        return None
    found = shifted_inputs(batch, targets)
    # input column where each input holds target t: t+1 shifted right (teacher forcing), t when sliced like
    # the targets (the decoder is fed its own answer, however right the mask), t-1 when shifted left (t[1:] + [PAD]
    # for [BOS] + t[:-1]: fed the next answer, and its own one step before)
    shift = {k: 1 for k in found}
    for s in (0, -1):
        shift |= {k: s for k in aligned_inputs(batch, targets, s) if k not in shift}
    own = [k for k in source_copies(batch, targets) if k not in shift]
    if not shift and not own:
        return None
    length = targets.shape[1]
    n = targets.shape[0]
    # one example at a time when the batch allows it: a model that mixes the examples of a batch (batch_dependence's
    # fault) moves every position of every example whatever is changed, and that is no look into the future
    singles = [take(batch, torch.tensor([i])) for i in range(min(n, EXAMPLES))] if batch_first(batch, n) else [batch]
    shape = (n if len(singles) == 1 else 1, length)
    for one in singles:
        scored = _scored(problem, model, one, shape)
        j = _split(scored, length)  # change the targets from position j on; outputs 0..j must not move
        found = _moved(problem, model, one, shift, j, shape, scored) if shift else None
        if found is None and own:
            found = _reads_own_target(problem, model, one, own, shape, scored)
        if found is not None:
            return found
    return None


def _split(scored: Optional[torch.Tensor], length: int) -> int:
    """The position from which the targets are changed: the middle one of the scored positions that have later ones
    to change, so that scored outputs lie on both sides of it (a left-padded prompt scores only its answer, at the
    end, where the middle of the sequence would leave nothing scored before it: holdout32's revlm); the middle of the
    sequence when every position counts."""
    if scored is not None:
        positions = [p for p in range(1, length - 1) if bool(scored[:, p].any())]
        if positions:
            return positions[len(positions) // 2]
    return max(1, length // 2)


def source_copies(batch: Any, targets: torch.Tensor) -> list:
    """The keys of the source-side sequences (not named or placed like the targets) whose column t holds the targets'
    column t: a copy task's source, or an LM's tokens not shifted against its labels. Which of the two it is, the
    model says (_reads_own_target)."""
    if isinstance(batch, dict):
        items = [(k, v) for k, v in _sequences(batch, targets.is_floating_point())
                 if not str(k).lower().startswith(TARGET_NAMES)]
    elif isinstance(batch, (list, tuple)):
        items = [(k, v) for k, v in _sequences(batch, targets.is_floating_point()) if k < len(batch) - 1]
    else:
        items = []
    return [k for k, x in items if _holds_targets(x, targets, 0)]


def _reads_own_target(problem, model, batch: Any, keys: list, shape: tuple, scored) -> Optional[Diagnosis]:
    """A source that equals the targets position by position, fed to a model that is causal over it: changing the
    source from a scored position j on leaves the outputs before j as they were (causal) and moves the output at j
    (it reads its own answer). An encoder that sees the whole source (a copy task, an autoencoder) moves the outputs
    before j too: no verdict."""
    length = shape[1]
    positions = [p for p in range(1, length) if scored is None or bool(scored[:, p].all())]
    if not positions:
        return None
    j = positions[len(positions) // 2]
    before, again, after = _forwards(problem, model, (batch, batch, _change_future(batch, {k: 0 for k in keys}, j)),
                                     training=False)
    if not (isinstance(before, torch.Tensor) and isinstance(after, torch.Tensor) and before.shape == after.shape
            and before.dim() >= 2 and tuple(before.shape[:2]) == shape and before.is_floating_point()
            and isinstance(again, torch.Tensor)
            and torch.allclose(again.float(), before.float(), rtol=1e-4, atol=1e-6, equal_nan=True)):
        return None
    change = (before.float() - after.float()).abs().nan_to_num(0).reshape(*shape, -1).amax((0, 2))
    scale = float(before.float().nan_to_num(0).abs().max()) or 1.0
    tol = 1e-4 * scale + 1e-6
    earlier = [p for p in range(j) if scored is None or bool(scored[:, p].any())]
    if not earlier or float(change[earlier].max()) > tol or float(change[j]) <= tol:
        return None
    where = ", ".join(str(k) for k in keys)
    return Diagnosis(
        "leakage", "error", f"the model's input ({'batch item ' if isinstance(keys[0], int) else ''}{where}) holds "
        f"the targets at the same positions, and the model is causal over it: the output at position {j} moves "
        f"when that input changes from position {j} on (by up to {num(float(change[j]))}) while the outputs "
        "before it do not, so each position reads its own target and can copy instead of predict",
        evidence={"check": "future", "own_target": True, "changed_from": j, "max_change": num(float(change[j])),
                  "output_scale": num(scale), "inputs": {str(k): "target t at column t" for k in keys}},
        fix="shift the targets against the inputs (next-token prediction: inputs tokens[:, :-1], targets "
            "tokens[:, 1:])")


def _scored(problem, model, batch: Any, shape: tuple) -> Optional[torch.Tensor]:
    """Which output positions the loss reads, (examples, positions) bool: where its gradient with respect to the
    model's output is not zero. None when that cannot be had. The padding of a left-padded batch is not scored, and
    what a padding position sees (its query has no visible key, so it attends to every key, later ones too) is no
    leak (holdout19's clean sortlm)."""
    outputs = []
    handle = model.register_forward_hook(lambda m, i, out: outputs.append(out))
    was = model.training
    model.eval()
    try:
        with torch.enable_grad():
            loss = problem.loss(model, batch)
            out = next((o for o in outputs if isinstance(o, torch.Tensor) and o.requires_grad
                        and o.dim() >= 2 and tuple(o.shape[:2]) == shape), None)
            if out is None or not isinstance(loss, torch.Tensor) or not loss.requires_grad:
                return None
            grad, = torch.autograd.grad(loss.float().sum(), out, allow_unused=True)
    except Exception:  # noqa: BLE001 - best effort: without it every position counts
        return None
    finally:
        handle.remove()
        model.train(was)
    if grad is None:
        return None
    return grad.reshape(*shape, -1).ne(0).any(-1)


def _moved(problem, model, batch: Any, shift: dict, j: int, shape: tuple, scored=None) -> Optional[Diagnosis]:
    """Whether changing the inputs that hold targets j.. moves an output at a scored position <= j (outputs of
    `shape`: examples, positions; `scored`: the positions the loss reads, None: all)."""
    changed = _change_future(batch, shift, j)
    before, again, after = _forwards(problem, model, (batch, batch, changed), training=False)
    if _none_finite(before, j):
        # eval mode's fused attention turns a fully masked row into NaN, which the next layer spreads to every
        # position (a mask whose True means "may attend", hiding everything from the last position): the
        # training path keeps such rows finite, and the leak shows there
        before, again, after = _forwards(problem, model, (batch, batch, changed), training=True)
    if not (isinstance(before, torch.Tensor) and isinstance(after, torch.Tensor) and before.shape == after.shape
            and before.dim() >= 2 and tuple(before.shape[:2]) == shape and before.is_floating_point()):
        return None
    # an output that moves between two identical forwards (a layer built inside forward, dropout left on)
    # moves whatever is changed: that is not a leak
    if not (isinstance(again, torch.Tensor) and again.shape == before.shape
            and torch.allclose(again.float(), before.float(), rtol=1e-4, atol=1e-6, equal_nan=True)):
        return skipped("leakage (future positions)", "the model's eval-mode output differs between two forwards "
                       "of the same batch")
    early_b, early_a = before[:, :j + 1].float(), after[:, :j + 1].float()
    ok = torch.isfinite(early_b) & torch.isfinite(early_a)
    if scored is not None:
        ok &= scored[:, :j + 1].reshape(*scored[:, :j + 1].shape, *[1] * (early_b.dim() - 2))
    if not bool(ok.any()):
        return None
    moved = float((early_b - early_a)[ok].abs().max())
    scale = float(early_b[ok].abs().max()) or 1.0
    if moved <= 1e-4 * scale + 1e-6:
        return None
    per_position = ((early_b - early_a).abs() * ok).nan_to_num(0).reshape(*early_b.shape[:2], -1).amax((0, 2))
    first = int(torch.nonzero(per_position > 1e-4 * scale + 1e-6).flatten()[0])
    return Diagnosis(
        "leakage", "error", f"the output at position {first} changes when only the targets from position {j} on are "
        f"changed (by up to {num(moved)}): a position sees its own target or later ones, so the model can copy "
        "instead of predict", evidence={"check": "future", "changed_from": j, "first_position_moved": first,
                                        "max_change": num(moved), "output_scale": num(scale),
                                        "inputs": {str(k): f"target t at column t{v:+d}" for k, v in shift.items()}},
        fix="check the causal mask (torch.triu(..., diagonal=1) marks the future; an off-by-one, a transposed or "
            "a missing mask lets position t see t+1) and that the decoder's inputs are the targets shifted right")


def _forwards(problem, model, batches, training: bool) -> list:
    """The model's outputs for each batch, without gradients: in eval mode, or in training mode on a copy of the
    model (BatchNorm's running statistics stay as they were) with the same random draws for every forward (one
    dropout mask), so that only the batch differs."""
    was = model.training
    if training:
        model = copy.deepcopy(model)
    model.train(training)
    try:
        with torch.no_grad():
            if not training:  # (a layer built inside forward shows as two forwards that differ)
                return [run_model(problem, model, b) for b in batches]
            outputs = []
            for b in batches:
                with torch.random.fork_rng():
                    torch.manual_seed(0)
                    outputs.append(run_model(problem, model, b))
            return outputs
    finally:
        model.train(was)


def _none_finite(outputs, j: int) -> bool:
    return isinstance(outputs, torch.Tensor) and outputs.dim() >= 2 and outputs.is_floating_point() \
        and not bool(torch.isfinite(outputs[:, :j + 1]).any())


def _position_targets(t) -> bool:
    """One target per position: token ids, or a series' next values (next-step regression)."""
    return isinstance(t, torch.Tensor) and t.dim() == 2 and t.shape[1] >= 3 and t.dtype != torch.bool


def _change_future(batch: Any, shift: dict, j: int) -> Any:
    """The batch with the input copies of targets j.. (columns j+shift.. of each input) changed."""
    def changed(x: torch.Tensor, start: int) -> torch.Tensor:
        y = x.clone()
        tail = y[:, start:]
        if x.is_floating_point():  # a series: each later value moved by the series' own spread
            y[:, start:] = tail + (float(x.std()) or 1.0)
            return y
        values = torch.unique(x)
        # each changed token becomes the next value that occurs in the batch: a valid id, never itself
        pos = torch.searchsorted(values, tail.contiguous())
        y[:, start:] = values[(pos + 1) % len(values)] if len(values) > 1 else tail
        return y

    if isinstance(batch, torch.Tensor):
        return changed(batch, j + shift[None])
    if isinstance(batch, (list, tuple)):
        return same_sequence(batch, [changed(v, j + shift[i]) if i in shift else v for i, v in enumerate(batch)])
    return {k: changed(v, j + shift[k]) if k in shift else v for k, v in batch.items()}
