"""A real input position the model never reads (code `labels_not_learnable`): a start check on fresh weights.

A padding mask or a length off by one (`positions >= length - 1`, `lengths - 1` given to pack_padded_sequence, a
slice `[:, :-1]` on the wrong tensor) hides one real token of every sequence from the model. Nothing is non-finite,
nothing mixes the batch, no future leaks: the model just cannot see that token, and any target that depends on it
is learnt no better than a guess (holdout42's pickpos: the letter asked for is never seen when it is the last one,
validation accuracy stuck at 0.87). Fresh weights read every token they are given (dense attention, recurrent
states, convolutions: changing a token moves some output), so a token that moves no output at all is hidden.

Measured in eval mode on the first `EXAMPLES` training examples: each integer sequence input (batch-first, at least
3 positions; not the targets, nor a tensor that holds them, such as an LM's row whose last token is only a target)
has each real token (the padding is the run of the batch's pad id at the start or end of a row) replaced by another
the batch holds at that position (of a padded input: anywhere), one example at a time, all positions of that example
in one batch of copies. Fires when, in
at least `SHARE` of the examples, one or two real positions change no output (within 1e-6 of the outputs' size)
while the others do, at the same place counted from the row's real end (or its start).
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Optional

import torch

from ..diagnosis import Diagnosis
from ..trainer import to_device
from .common import batch_targets, run_model, same_sequence
from .startchecks import examples_in, take

EXAMPLES = 8   # examples looked at
SHARE = 0.9    # ... of which at least this share hide a real token at the same place
MOVED = 1e-6   # an output change below this x the outputs' size: none
JUDGED = 32    # real positions swapped per example at most (a long sequence: its ends and a spread between)


def unread_positions(run) -> list:
    problem, model = run.problem, run.model
    n = min(problem.train_size, EXAMPLES)
    if n < 4:
        return []
    batch = problem.get_batch(torch.arange(n))
    settings = getattr(run, "settings", None)
    if settings is not None:
        batch = to_device(batch, settings.device)  # (the model's device: a GPU run's too)
    targets = batch_targets(problem, batch)
    for key, x in examples_in(batch, n):
        if x.dtype in (torch.int32, torch.int64) and x.dim() == 2 and x.shape[1] >= 3 and not _holds(x, targets):
            found = _hidden(problem, model, batch, key, x)
            if found is not None:
                return [found]
    return []


def _holds(x: torch.Tensor, targets: Any) -> bool:
    """The targets tensor itself, or one sharing its storage (targets sliced out of the same rows)."""
    if not isinstance(targets, torch.Tensor):
        return False
    return x is targets or x.untyped_storage().data_ptr() == targets.untyped_storage().data_ptr()


def _hidden(problem, model, batch, key, x: torch.Tensor) -> Optional[Diagnosis]:
    pad = pad_id(x)
    places = []  # per example: the real positions no output depends on, counted from the real end and the start
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            for i in range(len(x)):
                real = real_span(x[i], pad)
                if len(real) < 3:
                    return None
                judged = _judged(real)
                unread = _unread(problem, model, batch, key, x, i, judged, pad)
                if unread is None:
                    return None
                if len(unread) > 2 or len(unread) == len(judged):
                    return None  # many tokens unread: a model that reads few by design (a last-step head, a window)
                end = int(real[-1])
                places.append(tuple((end - p, p - int(real[0])) for p in unread))
    finally:
        model.train(was)
    common = Counter(p for example in places for p in {q[0] for q in example} | {("start", q[1]) for q in example})
    if not common:
        return None
    place, count = common.most_common(1)[0]
    if count < SHARE * len(places):
        return None
    where = (f"the {_nth(place[1])} real token" if isinstance(place, tuple) and place[0] == "start"
             else "the last real token" if place == 0 else f"the real token {place} before the last")
    name = f"'{key}'" if isinstance(key, str) else f"batch[{key}]" if key is not None else "the input"
    return Diagnosis(
        "labels_not_learnable", "warning", f"the model never reads {where} of {name}: in {count} of {len(places)} "
        "examples, changing it changes no output of fresh weights, while changing any other real token does. A "
        "padding mask or a length off by one hides it (positions >= length - 1, lengths - 1 given to "
        "pack_padded_sequence, a slice [:, :-1] on the wrong tensor): targets that depend on that token cannot be "
        "learnt", evidence={"input": str(key), "place_from_end": place if not isinstance(place, tuple) else None,
                            "place_from_start": place[1] if isinstance(place, tuple) else None,
                            "examples": count, "looked_at": len(places), "hidden_position": True},
        fix="check the mask and the lengths against the padding: a real token at index length - 1 must be read "
            "(mask positions >= length, pack with lengths as they are)")


def _unread(problem, model, batch, key, x: torch.Tensor, i: int, real: torch.Tensor, pad: Optional[int]):
    """The positions of `real` in example i whose token, replaced by another the batch holds at that position (a
    category column keeps its own ids; a padded input's tokens share one vocabulary), moves no output; a position
    with nothing to swap in is not judged. None when the model's output is not one tensor."""
    swaps = []
    tokens = torch.unique(x[x != pad]) if pad is not None else None  # a padded input's tokens: all one vocabulary
    for p in real.tolist():
        column = x[:, p]
        others = torch.unique(column[column != int(x[i, p])] if pad is None else
                              column[(column != int(x[i, p])) & (column != pad)])
        if not len(others) and tokens is not None:  # the longest row's end: the others are padding there
            others = tokens[tokens != int(x[i, p])]
        if len(others):
            swaps.append((p, int(others[len(others) // 2])))
    if not swaps:
        return []
    copies = take(batch, torch.full((len(swaps) + 1,), i))
    changed = (copies[key] if key is not None else copies).clone()
    for row, (p, value) in enumerate(swaps, start=1):  # row 0: the example as it is
        changed[row, p] = value
    try:
        out = run_model(problem, model, _with(copies, key, changed))
    except (IndexError, RuntimeError):  # ids the model cannot take (a bug of its own, named elsewhere): no verdict
        return None
    if not isinstance(out, torch.Tensor) or not out.is_floating_point() or len(out) != len(swaps) + 1:
        return None
    out = out.double().reshape(len(out), -1)
    if not bool(torch.isfinite(out).all()):
        return None
    size = float(out[0].abs().max()) or 1.0
    moved = (out[1:] - out[:1]).abs().amax(1) > MOVED * size
    return [p for (p, _), m in zip(swaps, moved.tolist()) if not m]


def _judged(real: torch.Tensor) -> torch.Tensor:
    """The real positions to swap: all of them up to `JUDGED`, else the first and last 4 (where a mask or a length
    off by one hides a token) and an even spread between (the model reads those: the contrast)."""
    if len(real) <= JUDGED:
        return real
    middle = real[4:-4][torch.linspace(0, len(real) - 9, JUDGED - 8).round().long()]
    return torch.cat([real[:4], middle, real[-4:]]).unique()


def _with(batch: Any, key, value: torch.Tensor) -> Any:
    if key is None:
        return value
    if isinstance(batch, dict):
        return {**batch, key: value}
    return same_sequence(batch, [value if i == key else v for i, v in enumerate(batch)])


def pad_id(x: torch.Tensor) -> Optional[int]:
    """The value that ends (or starts) the most rows in a run of 2 or more, when rows have different real lengths;
    None for rows without padding."""
    ends = Counter()
    for row in x:
        for v in (int(row[-1]), int(row[0])):
            if (row[-2:] == v).all() or (row[:2] == v).all():
                ends[v] += 1
    return ends.most_common(1)[0][0] if ends else None


def real_span(row: torch.Tensor, pad: Optional[int]) -> torch.Tensor:
    """The positions of a row that are not its leading or trailing run of `pad`."""
    keep = torch.arange(len(row))
    if pad is None:
        return keep
    real = (row != pad).nonzero().flatten()
    if not len(real):
        return real
    return keep[int(real[0]):int(real[-1]) + 1]


def _nth(k: int) -> str:
    return {0: "first", 1: "second", 2: "third"}.get(k, f"{k + 1}th")
