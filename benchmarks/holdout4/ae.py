"""Held-out-4 family 2: a small convolutional autoencoder on sklearn's 8x8 digits, reconstruction MSE.

The targets ARE the inputs (a batch is (x, x)); pixels scaled to [0, 1]; a tanh bottleneck of 16 numbers.
Predicting the mean image costs the chance loss (the mean per-pixel variance). Each bug is one line, marked
`# BUG <name>`.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "pixels_raw", "latent_init_huge", "batch_mean_image", "head_built_in_forward")


def digits() -> torch.Tensor:
    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32)[:, None] / 16.0  # (1797, 1, 8, 8) in [0, 1]
    return x[torch.randperm(len(x), generator=torch.Generator().manual_seed(0))]


class ConvAE(nn.Module):
    def __init__(self, bug: str, latent: int = 16):
        super().__init__()
        self.bug = bug
        self.enc = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten())  # 32 x 4 x 4
        self.to_latent = nn.Linear(32 * 16, latent)
        self.from_latent = nn.Linear(latent, 32 * 16)
        self.dec = nn.Sequential(nn.ConvTranspose2d(32, 16, 4, stride=2, padding=1), nn.ReLU())  # 16 x 8 x 8
        self.head = nn.Conv2d(16, 1, 3, padding=1)
        if bug == "latent_init_huge":
            nn.init.normal_(self.to_latent.weight, std=10.0)  # BUG latent_init_huge: std 10 for 0.01-ish

    def forward(self, x):
        if self.bug == "batch_mean_image":
            x = x - x.mean(0, keepdim=True)  # BUG batch_mean_image: "centre the inputs" with the batch's mean image
        z = torch.tanh(self.to_latent(self.enc(x)))
        h = self.dec(F.relu(self.from_latent(z)).view(-1, 32, 4, 4))
        if self.bug == "head_built_in_forward":
            return nn.Conv2d(16, 1, 3, padding=1)(h)  # BUG head_built_in_forward: a fresh, untrained layer each call
        return self.head(h)


class AETask:
    metrics = ("train/loss", "val/loss")

    def __init__(self, bug: str = "none", n_val: int = 397):
        self.bug = check_bug(bug, BUGS, "ae")
        x = digits()
        if bug == "pixels_raw":
            x = x * 255  # BUG pixels_raw: "pixels are 0..255" (scaled up, not down)
        self.x_train, self.x_val = x[n_val:], x[:n_val]

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.x_train))
        x_train = self.x_train[:n]
        model = ConvAE(self.bug)

        def evaluate(model):
            with evaluating(model):
                return {f"{split}/loss": F.mse_loss(model(x), x).item()
                        for split, x in (("train", x_train), ("val", self.x_val))}

        return Problem(model=model, train_size=n, get_batch=lambda idx: (x_train[idx], x_train[idx]),
                       loss=lambda model, batch: F.mse_loss(model(batch[0]), batch[1]), evaluate=evaluate,
                       chance_loss=float(self.x_train.var(0).mean()),
                       forward=lambda model, batch: model(batch[0]), targets=lambda batch: batch[1])
