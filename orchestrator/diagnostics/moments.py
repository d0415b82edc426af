"""Adam's moment decays swapped (code `lr_too_high`, warning): a start check on the optimiser as configured.

Adam-family optimisers divide the running mean of the gradient (decay beta1) by the root of the running mean of its
square (decay beta2). With beta1 <= beta2 (0.9, 0.999 by default) the second moment remembers the gradient's size at
least as long as the first remembers its direction, so a step stays about the LR's size. With beta1 > beta2 (the pair
swapped, (0.999, 0.9)) the second forgets faster: once the gradient shrinks, m / sqrt(v) grows without bound, late in
training, where neither the LR probe nor a NaN shows it (benchmarks/holdout51's recipes/adamw_betas_swapped: the
largest layer's step 110x the LR by iteration 1200, against 0.013x with the pair as meant).
"""
from __future__ import annotations

from ..diagnosis import Diagnosis
from .common import num


def swapped_betas(run) -> list:
    """[the diagnosis] when a parameter group's `betas` has beta1 > beta2, else []."""
    for group in run.optimizer.param_groups:
        betas = group.get("betas")
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
            continue
        b1, b2 = (float(b) for b in betas)
        if b1 > b2:
            name = type(run.optimizer).__name__
            return [Diagnosis(
                "lr_too_high", "warning", f"{name}'s betas are ({num(b1)}, {num(b2)}): the gradient's running mean "
                f"(beta1) outlives its running square (beta2), so once the gradient shrinks a step m / sqrt(v) grows "
                "far beyond the LR (a swapped pair?)", evidence={"betas": [b1, b2], "optimizer": name},
                fix=f"betas=({num(b2)}, {num(b1)}): beta1 (the mean, ~0.9) below beta2 (the square, ~0.999)")]
    return []
