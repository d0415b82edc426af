"""Held-out-24 family 1: an MLP quantile regressor (pinball loss, non-crossing quantiles) on generated delivery times.

Five inputs: four N(0, 1) columns and a store's visit count (Poisson(2), so often 0) taken as log(1 + count). The
target is sin(1.5 x0) + 0.5 x1 x3 + 0.4 log1p(count) plus Gaussian noise whose std depends on x2
(0.15 + 0.25 |x2|): heteroscedastic, so the 0.1 and 0.9 quantiles move apart where |x2| is large. The table (the
five columns and the target last) is standardised column by column with the training rows' statistics, then split
into features (all columns but the last) and target. Model: Linear(5, 64) - RMSNorm (written out) - ReLU -
Linear(64, 64) - RMSNorm - ReLU - Linear(64, 3) -> the median m and two gaps: quantiles (m - softplus(a), m,
m + softplus(b)) for tau = (0.1, 0.5, 0.9), so they never cross. Loss: the pinball loss written out, mean over
examples and quantiles. `best_loss`: the expected pinball loss of the true conditional quantiles on the validation
rows (sigma phi(z_tau), exact for Gaussian noise); `chance_loss`: the training rows' unconditional quantiles.
Adam at 0.003. Tuple batches (features (B, 5), target (B,)). Metrics: pinball loss and R^2 of the median (train:
the stage's rows, at most 500), validation coverage of the 0.1-0.9 interval. Each bug is one line, marked
`# BUG <name>`.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "log_of_raw_counts", "target_column_in_features", "pinball_indicator_flipped", "rmsnorm_over_batch")
TAUS = (0.1, 0.5, 0.9)
PHI_Z = (0.17550, 0.39894, 0.17550)  # the standard normal density at the quantiles' z-scores
HIDDEN, N_TRAIN, N_VAL = 64, 2000, 500


def table(n: int, g: torch.Generator, bug: str):
    x = torch.randn(n, 4, generator=g)
    count = torch.poisson(torch.full((n,), 2.0), generator=g)
    sigma = 0.15 + 0.25 * x[:, 2].abs()
    y = (torch.sin(1.5 * x[:, 0]) + 0.5 * x[:, 1] * x[:, 3] + 0.4 * torch.log1p(count)
         + sigma * torch.randn(n, generator=g))
    visits = torch.log1p(count)
    if bug == "log_of_raw_counts":
        visits = torch.log(count)  # BUG log_of_raw_counts: log of the raw count (log(0) = -inf), not log1p
    return torch.cat([x, visits[:, None], y[:, None]], 1), sigma


class RMSNorm(nn.Module):
    def __init__(self, d: int, bug: str):
        super().__init__()
        self.bug, self.gain = bug, nn.Parameter(torch.ones(d))

    def forward(self, h):
        if self.bug == "rmsnorm_over_batch":
            return h / torch.sqrt(h.pow(2).mean(0, keepdim=True) + 1e-6) * self.gain  # noqa: E501  BUG rmsnorm_over_batch: the mean square over dim 0 (the batch)
        return h / torch.sqrt(h.pow(2).mean(-1, keepdim=True) + 1e-6) * self.gain


class QuantileMLP(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(5, HIDDEN), RMSNorm(HIDDEN, bug), nn.ReLU(),
                                 nn.Linear(HIDDEN, HIDDEN), RMSNorm(HIDDEN, bug), nn.ReLU(), nn.Linear(HIDDEN, 3))

    def forward(self, x):  # (B, 5) -> (B, 3) quantiles for TAUS, non-crossing
        o = self.net(x)
        m = o[:, 1]
        return torch.stack([m - F.softplus(o[:, 0]), m, m + F.softplus(o[:, 2])], 1)


def pinball(q, y, bug: str = "none"):
    u = y[:, None] - q
    tau = torch.tensor(TAUS, device=q.device)
    if bug == "pinball_indicator_flipped":
        return (u * (tau - (u > 0).float())).mean()  # noqa: E501  BUG pinball_indicator_flipped: the indicator written u > 0, not u < 0
    return (u * (tau - (u < 0).float())).mean()


class QuantMLPTask:
    metrics = ("train/loss", "train/r2", "val/loss", "val/r2", "val/coverage")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "quantmlp")
        g = torch.Generator().manual_seed(0)
        train, _ = table(N_TRAIN, g, self.bug)
        val, val_sigma = table(N_VAL, g, self.bug)
        mean, std = train.mean(0), train.std(0)
        train, val = (train - mean) / std, (val - mean) / std
        if self.bug == "target_column_in_features":
            self.x_train, self.x_val = train[:, 1:], val[:, 1:]  # noqa: E501  BUG target_column_in_features: columns 1: (the target among them) instead of :-1
        else:
            self.x_train, self.x_val = train[:, :-1], val[:, :-1]
        self.y_train, self.y_val = train[:, -1], val[:, -1]
        q = torch.quantile(self.y_train, torch.tensor(TAUS))
        self.chance = float(pinball(q[None].expand(N_TRAIN, 3), self.y_train))  # the unconditional quantiles
        self.best = float((val_sigma / std[-1]).mean() * sum(PHI_Z) / 3)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = QuantileMLP(self.bug)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:500], y[:500]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    q = model(xs)
                    out[f"{split}/loss"] = pinball(q, ys).item()
                    var = ys.var(unbiased=False).item()
                    out[f"{split}/r2"] = 1 - ((q[:, 1] - ys) ** 2).mean().item() / var if len(ys) > 1 else 0.0
                    if split == "val":
                        out["val/coverage"] = ((ys >= q[:, 0]) & (ys <= q[:, 2])).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (x[idx], y[idx]),
                       loss=lambda model, b: pinball(model(b[0]), b[1], self.bug), evaluate=evaluate,
                       chance_loss=self.chance, best_loss=self.best,
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
