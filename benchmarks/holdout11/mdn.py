"""Held-out-11 family 3: a mixture density network on a 1-D inverse problem with several answers per input.

y ~ U(0, 1), x = y + 0.3 sin(2 pi y) + noise (std 0.03): predicting y from x has up to 3 answers for one x, so a
mean-squared regression would answer their average; a mixture of K = 5 Gaussians can put one on each branch. Both x
and y are standardised with the training set's statistics. Model: an MLP 1 -> 64 -> 64 (tanh) -> 3K outputs: the
mixture logits, the means and the log-stds; the loss is the exact mixture NLL, -logsumexp_k(log pi_k + log N(y;
mu_k, sigma_k)), in nats per example. Tuple batches (x (B, 1), y (B,)). `chance_loss` is the NLL of one Gaussian fit
to y's marginal. Goal: validation NLL (mode min). Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "density_without_logsumexp", "logsumexp_over_batch", "log_std_bias_minus_10")
K, HIDDEN, NOISE = 5, 64, 0.03
DATA_SEED, N_TRAIN, N_VAL = 0, 2000, 1000
LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def inverse_problem(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    y = torch.rand(n, generator=g)
    x = y + 0.3 * torch.sin(2 * math.pi * y) + NOISE * torch.randn(n, generator=g)
    return x.unsqueeze(1), y


def mixture_nll(out: torch.Tensor, y: torch.Tensor, bug: str) -> torch.Tensor:
    """Mean NLL of y (B,) under the mixtures `out` (B, 3K): logits, means, log-stds."""
    logits, mu, log_sd = out.split(K, -1)
    log_pi = logits.log_softmax(-1)
    z = (y.unsqueeze(1) - mu) / log_sd.exp()
    log_n = -0.5 * z ** 2 - log_sd - LOG_SQRT_2PI
    if bug == "density_without_logsumexp":
        return -(log_pi.exp() * log_n.exp()).sum(-1).log().mean()  # BUG density_without_logsumexp: textbook form
    if bug == "logsumexp_over_batch":
        return -torch.logsumexp(log_pi + log_n, 0).mean()  # BUG logsumexp_over_batch: dim 0 for the components' dim
    return -torch.logsumexp(log_pi + log_n, -1).mean()


class MDN(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(1, HIDDEN), nn.Tanh(), nn.Linear(HIDDEN, HIDDEN), nn.Tanh())
        self.head = nn.Linear(HIDDEN, 3 * K)
        if bug == "log_std_bias_minus_10":
            nn.init.constant_(self.head.bias.data[2 * K:], -10.0)  # BUG log_std_bias_minus_10: "start sharp"

    def forward(self, x):  # (B, 1) -> (B, 3K)
        return self.head(self.body(x))


class MDNTask:
    metrics = ("train/loss", "val/loss", "val/nll")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "mdn")
        g = torch.Generator().manual_seed(DATA_SEED)
        (x, y), (vx, vy) = inverse_problem(N_TRAIN, g), inverse_problem(N_VAL, g)
        self.x_stats, self.y_stats = (x.mean(), x.std()), (y.mean(), y.std())
        scale = lambda v, stats: (v - stats[0]) / stats[1]  # noqa: E731
        self.train = scale(x, self.x_stats), scale(y, self.y_stats)
        self.val = scale(vx, self.x_stats), scale(vy, self.y_stats)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.train[0][:n], self.train[1][:n]
        model = MDN(self.bug)

        def evaluate(model):
            with evaluating(model):
                train = mixture_nll(model(x), y, self.bug).item()
                val = mixture_nll(model(self.val[0]), self.val[1], self.bug).item()
            return {"train/loss": train, "val/loss": val, "val/nll": val}

        # one Gaussian fitted to the standardised y's marginal (variance 1): what a model blind to x reaches
        chance = 0.5 * math.log(2 * math.pi * math.e)
        return Problem(model=model, train_size=n, get_batch=lambda idx: (x[idx], y[idx]),
                       loss=lambda model, batch: mixture_nll(model(batch[0]), batch[1], self.bug),
                       evaluate=evaluate, chance_loss=chance,
                       forward=lambda model, batch: model(batch[0]), targets=lambda batch: batch[1])
