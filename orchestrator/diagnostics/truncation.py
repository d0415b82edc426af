"""Sequences cut at a fixed width (code `labels_not_learnable`, warning): a failure check, any stage size, last.

A data pipeline that cuts its token sequences at a fixed length (`tokens[:max_len]`, a source truncated before
it is padded) hands the model examples whose targets depend on what was cut. The model fits the others and cannot
fit those; no input is ignored, the splits are built alike, the labels beat shuffled ones, so every label check
passes (benchmarks/holdout38's wordflip, holdout41's rotword and holdout44's twinletter: each stalled with no
cause). What shows is where the loss stays: on the rows of the longest length (the cut: every longer row ends
there), and not on the rows one token shorter. A long sequence that is only harder raises the loss gradually with
its length; a cut one makes a step at the cut.

Measured on a failed stage, on up to `failure.label_examples` (256) training examples spread over the set, in eval
mode: each padded token-id input (not the targets, nor a decoder input holding them shifted), each example's
length (its span between its pad runs), and the trained model's loss on each example alone. Fires when the rows
of the longest length have a mean loss at least `failure.cut_ratio` (2.5) x that of the rows one token shorter and
of all shorter rows, each group at least `failure.cut_rows` (8) rows, and the full rows' loss is not already small
(`failure.cut_floor`, 0.02, x the chance loss: a cut row costs only its lost tokens, one of a sorted word's nine).
A last resort, like `ignored_input`: not when the stage, a stage its weights came from or this failure's other
checks said a warning or an error.
"""
from __future__ import annotations

import math
from typing import Optional

import torch

from ..diagnosis import Diagnosis
from ..trainer import to_device
from .common import _sequences, aligned_inputs, batch_targets, num, shifted_inputs
from .positions import pad_id, real_span


def cut_sequences(ctx) -> Optional[Diagnosis]:
    from .failure import spread
    run, problem, c = ctx.run, ctx.problem, ctx.cfg
    if ctx.said_anything():  # a last resort: a failure named otherwise is not blamed on the data's lengths
        return None
    pool = min(problem.train_size, c.label_examples)
    if pool < 2 * c.cut_rows:
        return None
    chosen = spread(problem.train_size, pool)[:pool]
    batch = problem.get_batch(chosen)
    lengths = _padded_lengths(batch, batch_targets(problem, batch))
    if lengths is None:
        return None
    key, length = lengths
    width = int(length.max())  # the longest real length: a cut before the padding leaves the padded width wider
    full, near, short = length == width, length == width - 1, length < width
    if min(int(full.sum()), int(short.sum())) < c.cut_rows:
        return None
    losses = _each_loss(run, problem, chosen)
    if losses is None:
        return None
    on = {name: float(losses[rows].mean()) for name, rows in (("full", full), ("near", near), ("short", short))
          if int(rows.sum()) >= c.cut_rows}
    chance = problem.chance_loss
    if chance and on["full"] < c.cut_floor * chance:
        return None  # the full rows are fit too
    if any(on["full"] < c.cut_ratio * v for k, v in on.items() if k != "full"):
        return None
    which = f"input {key!r}" if isinstance(key, str) else f"batch item {key}" if key is not None else "the input"
    near_ratio, short_ratio = on["full"] / on.get("near", on["short"]), on["full"] / on["short"]
    return Diagnosis(
        "labels_not_learnable", "warning", f"the trained model's loss stays on the longest sequences of {which} "
        f"({int(full.sum())} of {pool} examples at {width} tokens, none longer: mean loss {num(on['full'])}), "
        f"{num(near_ratio)}x that of the rows one token shorter and {num(short_ratio)}x that of all shorter rows: a "
        "step at the longest length, not a gradual rise with length. Sequences cut at a fixed length lose what their "
        "targets need",
        evidence={"cut": True, "input": str(key), "width": width, "full_rows": int(full.sum()),
                  "examples": pool, "loss_full": num(on["full"]), "loss_near": num(on.get("near", math.nan)),
                  "loss_short": num(on["short"])},
        fix="look for a truncation in the data pipeline (tokens[:max_len], a max_length) shorter than the data's "
            "longest sequences; raise it or drop what it cuts")


def _padded_lengths(batch, targets) -> Optional[tuple]:
    """(key, each row's real length) of the first padded token-id input that is not target-side."""
    target_side = set()
    if isinstance(targets, torch.Tensor) and targets.dim() == 2:
        target_side = set(shifted_inputs(batch, targets)) | set(aligned_inputs(batch, targets)) \
            | set(aligned_inputs(batch, targets, -1))
    for key, x in _sequences(batch):
        if x is targets or key in target_side or x.shape[1] < 4:
            continue
        pad = pad_id(x)
        if pad is None:
            continue
        length = torch.tensor([len(real_span(row, pad)) for row in x])
        return key, length
    return None


def _each_loss(run, problem, chosen: torch.Tensor) -> Optional[torch.Tensor]:
    """The trained model's loss on each example alone, in eval mode."""
    model, was = run.model, run.model.training
    model.eval()
    try:
        with torch.no_grad():
            out = [float(problem.loss(model, to_device(problem.get_batch(chosen[i:i + 1]), run.settings.device)))
                   for i in range(len(chosen))]
    finally:
        model.train(was)
    losses = torch.tensor(out)
    return losses if bool(torch.isfinite(losses).all()) else None
