"""Targets padded at the other end from their inputs (code `labels_not_learnable`, error): a start check.

A tagger's batch pads its token ids and its per-position targets to one width; when one is padded on the right and
the other on the left (`tags[i, width - len:]` beside `tokens[i, :len]`), every position of a padded row is taught
another position's tag. An example fetched alone has no padding, so it still lines up, and the model fits one
example (benchmarks/holdout46's records: "none found" after a search). What shows is in one batch: rows whose
inputs end in padding while their targets start with it.

On up to `start.pad_examples` (64) training examples in one batch without a decoder input (the targets then line up
with it, a sequence of their own beside the source): the targets, a per-position tensor (B, T) whose padding value
forms runs at one end of a quarter of the rows or more and never occurs inside a row, beside each token-id input of
the same shape with its own padding; each row's padded side for both (the end or the start; a row padded at both
ends, or at none, says nothing), on the rows with as many real inputs as real targets (one sequence tagged position
by position). Fires when at least `start.pad_rows` (4) such rows are padded in both and at least half of them on
opposite sides. Clean sequence families of every held-out suite: none (a sorted prefix beside its continuation is
a case for the decoder-input rule; random digits end in runs of one value too, and hold it inside other rows).
"""
from __future__ import annotations

from typing import Optional

import torch

from ..diagnosis import Diagnosis
from .common import _sequences, aligned_inputs, batch_targets, shifted_inputs
from .positions import pad_id, real_span


def padded_apart(c, problem) -> Optional[Diagnosis]:
    n = min(problem.train_size, c.pad_examples)
    batch = problem.get_batch(torch.arange(n))
    y = batch_targets(problem, batch)
    if not isinstance(y, torch.Tensor) or y.dim() != 2 or y.is_floating_point() or y.shape[1] < 3:
        return None
    y_pad = _padding(y)
    if y_pad is None or shifted_inputs(batch, y) or aligned_inputs(batch, y) or aligned_inputs(batch, y, -1):
        return None  # (a decoder input: the targets line up with it, a sequence of their own beside the source)
    for key, x in _sequences(batch):
        if x is y or x.shape != y.shape:
            continue
        x_pad = _padding(x)
        if x_pad is None:
            continue
        # rows of one sequence: as many real inputs as real targets (a tagger's; not a source beside its translation)
        same = ((x != x_pad).sum(1) == (y != y_pad).sum(1)).tolist()
        both = [(a, b) for a, b, s in zip(_sides(x, x_pad), _sides(y, y_pad), same) if a and b and s]
        apart = sum(a != b for a, b in both)
        if len(both) >= c.pad_rows and 2 * apart >= len(both):
            where = f"input {key!r}" if isinstance(key, str) else f"batch item {key}"
            x_side = next(a for a, b in both if a != b)
            return Diagnosis(
                "labels_not_learnable", "error", f"the targets are padded at the other end of each row from "
                f"{where} ({apart} of the {len(both)} rows padded in both: the inputs at the {x_side}, the targets "
                f"at the {'start' if x_side == 'end' else 'end'}): in a padded row every position is taught another "
                "position's target. An example alone has no padding and still lines up, so it fits",
                evidence={"padding_sides": True, "input": str(key), "rows": len(both), "apart": apart},
                fix="pad the targets on the same side as the inputs (or the inputs as the targets)")
    return None


def _padding(x: torch.Tensor) -> Optional[int]:
    """The pad id of a padded tensor: runs at one end of a quarter of the rows or more, never inside a row (digits
    drawn at random end in runs of one value too, and hold it inside other rows)."""
    pad = pad_id(x)
    if pad is None:
        return None
    spans = [real_span(row, pad) for row in x]
    if any(bool((row[span] == pad).any()) for row, span in zip(x, spans)):
        return None
    return pad if 4 * sum(len(span) < x.shape[1] for span in spans) >= len(x) else None


def _sides(x: torch.Tensor, pad: int) -> list:
    """Each row's padded side: 'end', 'start', or None (no padding, or padding at both ends)."""
    first, last = x[:, 0] == pad, x[:, -1] == pad
    return ["end" if b and not a else "start" if a and not b else None for a, b in zip(first.tolist(), last.tolist())]
