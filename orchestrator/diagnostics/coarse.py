"""Per-position outputs at a coarser resolution than their targets (code `loss_floor`, error): a failure check.

A segmentation or tagging network that downsamples (a strided convolution, a pooling) and then repeats its outputs
back to the input's length (nearest upsampling, `repeat_interleave`) gives neighbouring positions the very same
output. Where the targets change between two such neighbours, one of them is always wrong, however long it trains:
the loss has a floor, one example still cannot be fit, and easier stages cannot help (benchmarks/holdout48's
pulses/strided_then_upsampled: stride 2, upsampled at the end, pulse edges resolved to two samples at best).

Measured on a failed stage, on the trained weights in eval mode, on up to `failure.label_examples` (256) training
examples: along a dimension of the output (not the batch) of at least 4 positions, whose size a dimension of the
targets shares (the dimension aligned with it from the end when several do: a square image's height and width,
holdout58's blobs/stride_then_upsample), at least `failure.coarse_tied` (40%) of the neighbouring pairs are exactly
equal in every example and every channel (a computed output never ties across a whole batch: the repeats do), while
most outputs differ between examples (an output the same for every example, a signal vanished on its way, ties
everywhere), and among the tied pairs' real targets (not `-100`) at least `failure.coarse_differ` (2%) differ between
the two neighbours.
"""
from __future__ import annotations

from typing import Optional

import torch

from ..diagnosis import Diagnosis


def coarse_output(ctx) -> Optional[Diagnosis]:
    from .bounded import trained_outputs
    c = ctx.cfg
    found = trained_outputs(ctx)
    if found is None:
        return None
    targets, out = found
    if targets.dim() < 2 or out.dim() < 2 or out.shape[0] != targets.shape[0]:
        return None
    if float((out.amax(0) > out.amin(0)).float().mean()) < 0.5:
        return None  # one output for every example: the input does not get through (a vanishing signal), not repeats
    for dim in range(1, out.dim()):
        size = out.shape[dim]
        along = [d for d in range(1, targets.dim()) if targets.shape[d] == size]
        if len(along) > 1:  # a square image: its height and width alike; the targets' dims align with the output's end
            along = [d for d in along if d == dim - (out.dim() - targets.dim())]
        if size < 4 or len(along) != 1:
            continue
        tied = _tied_pairs(out, dim)
        if float(tied.float().mean()) < c.coarse_tied:
            continue
        differ, real = _differing_targets(targets, along[0], tied)
        if real and differ / real >= c.coarse_differ:
            share = float(tied.float().mean())
            return Diagnosis(
                "loss_floor", "error",
                f"{share:.0%} of the neighbouring positions along dimension {dim} of the model's output ({size} long) "
                f"are exactly equal in every example, while {differ / real:.0%} of their targets differ: the output is "
                "computed at a coarser resolution and repeated (a stride or a pooling, then nearest upsampling), so "
                "one of each such pair is always wrong, however long it trains",
                evidence={"coarse_dim": dim, "tied_pairs": round(share, 3), "targets_differ": round(differ / real, 3)},
                fix="keep the full resolution (stride 1, or learnt upsampling with skip connections from the "
                    "full-resolution layers) where the targets change from one position to the next")
    return None


def _tied_pairs(out: torch.Tensor, dim: int) -> torch.Tensor:
    """For each pair of neighbours along `dim`: exactly equal in every example and every other position."""
    size = out.shape[dim]
    same = out.narrow(dim, 1, size - 1) == out.narrow(dim, 0, size - 1)
    return same.movedim(dim, 0).reshape(size - 1, -1).all(1)


def _differing_targets(targets: torch.Tensor, dim: int, tied: torch.Tensor) -> tuple[int, int]:
    """How many of the tied pairs' real targets (both not -100) differ, and how many there are."""
    size = targets.shape[dim]
    a, b = targets.narrow(dim, 1, size - 1), targets.narrow(dim, 0, size - 1)
    a, b = a.movedim(dim, 0)[tied].reshape(-1), b.movedim(dim, 0)[tied].reshape(-1)
    real = (a != -100) & (b != -100) if not targets.is_floating_point() else torch.isfinite(a) & torch.isfinite(b)
    return int(((a != b) & real).sum()), int(real.sum())
