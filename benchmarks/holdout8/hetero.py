"""Held-out-8 family 3: a heteroscedastic regression MLP trained on the Gaussian negative log-likelihood.

x uniform in [-2, 2]^4; y = f(x) + sigma(x) * noise with f(x) = sin(1.5 x1) + 0.5 x2 x3 - 0.3 x4 and an input-dependent
noise scale sigma(x) = 0.2 + 0.4 sigmoid(2 x1) (0.2 .. 0.6). The MLP predicts a mean and a log-variance per example;
the loss is the hand-written Gaussian NLL 0.5 (log var + (y - mean)^2 / var + log 2 pi). The lowest expected NLL
is the noise's own entropy, E[0.5 log(2 pi e sigma(x)^2)], computed exactly from the generator over the validation
inputs: Problem.best_loss. The log-variance has soft bounds (sigma in 0.1 .. 2, Chua et al. 2018). The metrics
always use the correct NLL (a loss bug is in training only). Tuple batches (x, y). Each bug is one line, marked
`# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "feature_in_millimetres", "variance_relu", "features_detached", "precision_sign")
INPUTS, HIDDEN = 4, 64
MIN_LOG_VAR, MAX_LOG_VAR = math.log(0.1 ** 2), math.log(4.0)  # sigma in 0.1 (half the least noise) .. 2
TRAIN_SEED, VAL_SEED = 0, 1
LOG_2PI = math.log(2 * math.pi)


def mean_of(x: torch.Tensor) -> torch.Tensor:
    return torch.sin(1.5 * x[:, 0]) + 0.5 * x[:, 1] * x[:, 2] - 0.3 * x[:, 3]


def sigma_of(x: torch.Tensor) -> torch.Tensor:
    return 0.2 + 0.4 * torch.sigmoid(2 * x[:, 0])


def samples(n: int, seed: int, bug: str) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, INPUTS, generator=g) * 4 - 2
    y = mean_of(x) + sigma_of(x) * torch.randn(n, generator=g)
    if bug == "feature_in_millimetres":
        x = x * torch.tensor([1.0, 1.0, 1.0, 1000.0])  # BUG feature_in_millimetres: x4 in mm (+-2000), the rest in m
    return x, y


class Heteroscedastic(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.body = nn.Sequential(nn.Linear(INPUTS, HIDDEN), nn.SiLU(), nn.Linear(HIDDEN, HIDDEN), nn.SiLU())
        self.mean = nn.Linear(HIDDEN, 1)
        self.log_var = nn.Linear(HIDDEN, 1)

    def forward(self, x):  # (B, 4) -> (B, 2): mean, log-variance
        h = self.body(x)
        if self.bug == "features_detached":
            # meant for the variance head only ("keep it off the mean's features")
            h = h.detach()  # BUG features_detached: on the shared features, so the body never trains
        # soft bounds (Chua et al. 2018): memorising a point cannot drive the variance, and the loss, to -inf
        log_var = MAX_LOG_VAR - F.softplus(MAX_LOG_VAR - self.log_var(h))
        log_var = MIN_LOG_VAR + F.softplus(log_var - MIN_LOG_VAR)
        return torch.cat([self.mean(h), log_var], -1)


def gaussian_nll(out: torch.Tensor, y: torch.Tensor, bug: str = "none") -> torch.Tensor:
    mu, log_var = out[:, 0], out[:, 1]
    var = log_var.exp()
    if bug == "variance_relu":
        var = torch.relu(log_var)  # BUG variance_relu: the head read as a variance kept >= 0 by a ReLU, log(0) and / 0
    if bug == "precision_sign":
        return 0.5 * (var.log() + (y - mu) ** 2 * var + LOG_2PI).mean()  # BUG precision_sign: * var, not / var
    return 0.5 * (var.log() + (y - mu) ** 2 / var + LOG_2PI).mean()


class HeteroTask:
    metrics = ("train/loss", "train/mse", "val/loss", "val/mse")

    def __init__(self, bug: str = "none", n_train: int = 2000, n_val: int = 2000):
        self.bug = check_bug(bug, BUGS, "hetero")
        self.x_train, self.y_train = samples(n_train, TRAIN_SEED, bug)
        self.x_val, self.y_val = samples(n_val, VAL_SEED, bug)
        # the noise's entropy: no model's expected NLL on these inputs is lower
        sigma = sigma_of(samples(n_val, VAL_SEED, "none")[0])
        self.best = (0.5 * torch.log(2 * math.pi * math.e * sigma ** 2)).mean().item()

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.x_train))
        x_train, y_train = self.x_train[:n], self.y_train[:n]
        model = Heteroscedastic(self.bug)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, x, y in (("train", x_train, y_train), ("val", self.x_val, self.y_val)):
                    pred = model(x)
                    out[f"{split}/loss"] = gaussian_nll(pred, y).item()
                    out[f"{split}/mse"] = ((pred[:, 0] - y) ** 2).mean().item()
            return out

        # an uninformed guess: the training targets' own mean and variance
        chance = 0.5 * math.log(2 * math.pi * math.e * self.y_train.var().item())
        return Problem(model=model, train_size=n, get_batch=lambda idx: (x_train[idx], y_train[idx]),
                       loss=lambda model, batch: gaussian_nll(model(batch[0]), batch[1], self.bug),
                       evaluate=evaluate, chance_loss=chance, forward=lambda model, batch: model(batch[0]),
                       targets=lambda batch: batch[1], best_loss=self.best)
