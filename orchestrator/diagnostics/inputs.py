"""Input and target scale at stage start (code `input_scale`, warning only; LeCun et al. 1998, Efficient BackProp).

Looks at up to `inputs.samples` training examples (the task's `extras['x_train']`/`['y_train']` if it
has them, else the first tensor of `get_batch`): per-feature mean and std over the examples (a feature
is every non-batch position). It fires when the median |mean| > `inputs.max_mean` (1.0: not centred),
the median std is outside [`inputs.min_std`, `inputs.max_std`] ([0.1, 10]: not unit scale), or the
largest/smallest std of the non-constant features > `inputs.max_spread` (100: mixed scales). Integer
inputs (token ids, class labels) are skipped; floating targets (regression) get the same test.
"""
from __future__ import annotations

from typing import Optional

import torch

from ..diagnosis import Diagnosis
from .common import first_tensor, num, targets_of
from .config import InputScaleConfig


def feature_stats(x: torch.Tensor, c: InputScaleConfig) -> Optional[dict]:
    if x is None or not x.is_floating_point() or x.dim() < 1 or x.shape[0] < 2:
        return None
    x = x.detach().float().reshape(x.shape[0], -1)
    mean, std = x.mean(0), x.std(0)
    live = std > 1e-8
    if not bool(live.any()):
        return None
    med_mean = float(mean.abs().median())
    med_std = float(std[live].median())
    spread = float(std[live].max() / std[live].min())
    problems = []
    if med_mean > c.max_mean:
        problems.append(f"not centred (median |feature mean| {num(med_mean)})")
    if not c.min_std <= med_std <= c.max_std:
        problems.append(f"not unit scale (median feature std {num(med_std)})")
    if spread > c.max_spread:
        problems.append(f"features on scales {num(spread)}x apart")
    return {"median_abs_mean": num(med_mean), "max_abs_mean": num(mean.abs().max()), "median_std": num(med_std),
            "min_std": num(std[live].min()), "max_std": num(std[live].max()), "features": int(x.shape[1]),
            "constant_features": int((~live).sum()), "problems": problems}


class InputScaleCheck:
    def __init__(self, c: InputScaleConfig):
        self.c = c

    def on_start(self, run) -> None:
        if run.iteration > 0:  # resumed: it was checked when the attempt started
            return
        try:
            x, y = self.data(run.problem)
        except Exception:
            return
        for what, t in (("input", x), ("target", y)):
            stats = feature_stats(t, self.c) if t is not None else None
            if stats and stats["problems"]:
                run.diagnose(Diagnosis(
                    "input_scale", "warning", f"the {what}s are " + " and ".join(stats["problems"]),
                    iteration=run.iteration, evidence={"what": what, **stats},
                    fix=f"standardise the {what}s: (x - mean) / std per feature, computed on the training set"))

    def data(self, problem):
        x, y = problem.extras.get("x_train"), problem.extras.get("y_train")
        if not isinstance(x, torch.Tensor):
            n = min(self.c.samples, problem.train_size)
            batch = problem.get_batch(torch.arange(n))
            x, y = first_tensor(batch), targets_of(batch)
        if isinstance(x, torch.Tensor):
            x = x[:self.c.samples]
        if isinstance(y, torch.Tensor):
            y = y[:self.c.samples]
        return x, y
