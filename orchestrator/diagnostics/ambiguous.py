"""Inputs that do not tell their targets apart (code `labels_not_learnable`): a failure check.

When the data pipeline drops what distinguishes two examples (the pause between a keypad's letters, a feature column,
a tokeniser that maps unknown words to one id, a crop that cuts the telling part), different examples reach the model
with identical inputs and different targets. No model can fit both: the stage stalls below its goal while real labels
still train far better than shuffled ones, so the label checks see nothing wrong (holdout55's keypad/pauses_dropped:
`222` is `c`, `ab` or `ba`). What shows it directly: among up to `failure.ambiguous_examples` (4096) training examples
fetched one at a time (for at most `failure.ambiguous_seconds`, 5, once 256 are in), examples share their source
(every input tensor but the target side: the targets, a decoder input that holds them shifted, keys named like them)
exactly with others whose targets differ, so that at least `failure.ambiguous_share` (3%) of the examples stay wrong
even when each group of identical sources gets its commonest targets. Exact clashes are a birthday problem: keypad's
are none of 256 examples, 4% of 1024 and 10% of its 3000 (4.3% unfittable). A sub-problem ambiguous by design
(translation's first target word from the first three source words: 1.7% unfittable) stays below; sources that take
fewer than `failure.ambiguous_distinct` (25%) distinct values over the examples are not judged (a language model's
targets follow from its target-side inputs, beside a constant source). A small stage (under
2 x `failure.label_batch` examples) is judged on the examples of the task it builds up to. Not for a batch function
that draws anew at each fetch (an augmentation: its inputs are not fixed).
"""
from __future__ import annotations

import hashlib
import time
from typing import Any, Optional

import torch

from ..diagnosis import Diagnosis
from .common import TARGET_NAMES, batch_targets, shifted_inputs, tensors_in


def ambiguous_inputs(ctx) -> Optional[Diagnosis]:
    from .augment import drawn_anew
    from .failure import spread, wider_context
    c = ctx.cfg
    if ctx.labels_named:
        return None
    if ctx.problem.train_size < 2 * c.label_batch:
        ctx = wider_context(ctx)
        if ctx is None or ctx.problem.train_size < 2 * c.label_batch:
            return None
    problem = ctx.problem
    if drawn_anew(problem):
        return None
    # exact clashes are a birthday problem: rare among a few hundred examples, a tenth of 3000 (keypad's)
    pool = min(problem.train_size, c.ambiguous_examples)
    chosen = spread(problem.train_size, pool)[:pool]
    # a decoder input that holds the targets shifted is told by its content on many examples, not on one
    together = problem.get_batch(chosen[:64])
    targets = batch_targets(problem, together)
    shifted = shifted_inputs(together, targets) if isinstance(targets, torch.Tensor) and targets.dim() == 2 else []
    targets_of: dict = {}  # the source's digest -> the digests of the targets seen with it
    stop, seen = time.monotonic() + c.ambiguous_seconds, 0
    for i in chosen.tolist():
        if seen >= c.label_examples and time.monotonic() > stop:
            break  # a slow batch function: judged on the examples fetched so far
        seen += 1
        batch = problem.get_batch(torch.tensor([i]))
        targets = batch_targets(problem, batch)
        sources = _sources(batch, targets, shifted)
        if not isinstance(targets, torch.Tensor) or not sources:
            return None  # nothing to tell the targets from in this layout
        targets_of.setdefault(_digest(sources), []).append(_digest([targets]))
    if len(targets_of) < c.ambiguous_distinct * seen:
        return None  # the targets follow from target-side inputs (a language model beside a constant source)
    clashing = sum(len(t) for t in targets_of.values() if len(set(t)) > 1)
    # at best a model gives each group of identical inputs its commonest targets: the rest cannot be fit
    unfit = sum(len(t) - max(t.count(x) for x in set(t)) for t in targets_of.values())
    if unfit < c.ambiguous_share * seen:
        return None
    groups = sum(1 for t in targets_of.values() if len(set(t)) > 1)
    return Diagnosis(
        "labels_not_learnable", "error", f"{clashing} of {seen} training examples share their inputs exactly with "
        f"another example whose targets differ ({groups} groups of identical inputs): no model can fit both, so at "
        f"best {unfit} of them ({unfit / seen:.0%}) stay wrong whatever it learns", evidence={
            "ambiguous_examples": clashing, "unfit": unfit, "examples": seen, "groups": groups, "ambiguous": True},
        fix="look for what the pipeline drops between the raw data and the inputs (a separator, a column, a "
            "tokeniser mapping words to one id, a truncation): the inputs must tell the targets apart")


def _sources(batch: Any, targets, shifted: list) -> list:
    """The tensors of one example's batch that describe its source: not the targets, not a decoder input that holds
    them shifted (`shifted`: its keys or places; it differs wherever the targets do)."""
    if not isinstance(targets, torch.Tensor):
        return []
    if isinstance(batch, dict):  # every input but the target side: leaving one out would make examples look alike
        return [t for k, v in batch.items() if k not in shifted and not str(k).lower().startswith(TARGET_NAMES)
                for t in tensors_in(v) if t is not targets]
    if isinstance(batch, (list, tuple)):
        return [t for k, x in enumerate(batch) if k not in shifted for t in tensors_in(x) if t is not targets]
    return []


def _digest(tensors: list) -> str:
    h = hashlib.blake2b(digest_size=16)
    for t in tensors:
        t = t.detach().cpu().contiguous()
        h.update(str((tuple(t.shape), t.dtype)).encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()
