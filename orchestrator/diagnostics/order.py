"""Training examples sorted by their target (code `labels_not_learnable`, warning): a data check, once per run.

A table sorted by its target (for a plot, a groupby, a merge) and then split by position gives the held-out split
targets the training split never shows (the last 600 rows: the 600 largest), and a subset taken by position (the
first 10, the first 100) only the smallest. The model then learns, validation asks it to extrapolate, and nothing
in training looks wrong (benchmarks/holdout38's beams and holdout44's harvest, both stalled on validation with the
first stage's targets 2-4 standard deviations below the mean).

Judged on a real-valued target of one value per example (regression), on up to `order.samples` (64) training
examples spread evenly over the stage's training set, where at least `order.distinct` (90%) of the targets differ
(class ids and binary labels tie, and a ranking of ties says nothing): the rank correlation between an example's
index and its target, |Spearman rho|, at or above `order.min_rho` (0.95) over at least `order.min_examples` (10).
A shuffled set gives |rho| ~ 1/sqrt(n) (0.32 for 10 examples; clean regression families of every held-out suite
<= 0.38, first 10 rows included); a sorted one 1.0.
"""
from __future__ import annotations

from typing import Optional

import torch

from ..diagnosis import Diagnosis
from .common import batch_targets, num
from .config import OrderConfig


def sorted_targets(c: OrderConfig, problem) -> Optional[Diagnosis]:
    n = problem.train_size
    k = min(c.samples, n)
    if k < c.min_examples:
        return None
    idx = torch.linspace(0, n - 1, k).round().long().unique()
    y = batch_targets(problem, problem.get_batch(idx))
    if not isinstance(y, torch.Tensor) or not y.is_floating_point() or y.dim() == 0 or y.shape[0] != len(idx) \
            or y[0].numel() != 1:
        return None
    y = y.detach().reshape(-1).double().cpu()
    kept = torch.isfinite(y)
    y, at = y[kept], idx[kept].double()
    if len(y) < c.min_examples or len(torch.unique(y)) < c.distinct * len(y):
        return None
    rho = _spearman(at, y)
    if abs(rho) < c.min_rho:
        return None
    way = "ascending" if rho > 0 else "descending"
    return Diagnosis(
        "labels_not_learnable", "warning", f"the training examples are sorted by their target ({way}: Spearman rho "
        f"{num(rho)} between an example's index and its target over {len(y)} examples spread over the "
        f"{n}): a split or a subset taken by position sees only part of the target range, so the held-out "
        "split asks for values the training split never shows", evidence={"sorted": True, "spearman": num(rho),
                                                                        "examples": len(y), "train_size": n},
        fix="shuffle the examples once (with a fixed seed) before splitting them and before taking subsets")


def _spearman(x: torch.Tensor, y: torch.Tensor) -> float:
    rx, ry = _ranks(x), _ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    return float((rx * ry).sum() / (rx.norm() * ry.norm()).clamp(min=1e-12))


def _ranks(v: torch.Tensor) -> torch.Tensor:
    return v.argsort().argsort().double()  # ties are rare here: the targets are checked to differ first
