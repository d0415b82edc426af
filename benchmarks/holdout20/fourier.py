"""Held-out-20 family 1: an implicit-function MLP with random Fourier features fitting a generated 2-D image.

A 32x32 grey image is generated on the grid [-1, 1]^2: sin(3 pi x) cos(2 pi y) + a Gaussian bump (0.3, -0.2;
width 0.22) + 0.5 tanh(4 (x + y)), standardised to mean 0 and std 1. Its 1024 pixels are shuffled (torch seed 0):
700 train, 324 validation (interpolation between the training pixels). Inputs: the pixel's coordinates (x, y) in
[-1, 1]; targets: its value. Model: fixed random Fourier features [sin(2 pi B v), cos(2 pi B v)] (a buffer B of
32 x 2 frequencies drawn N(0, 2^2), seed 1234) -> linear 64 -> 128 - ReLU -> 128 - ReLU -> 1. Loss: mean squared
error. Adam at 0.003. Tuple batches (coordinates (B, 2), values (B,)). Metrics: training and validation MSE.
Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "coords_in_pixels", "loss_against_x_coord", "output_bias_100")
SIZE, N_TRAIN, FREQS, SIGMA = 32, 700, 32, 2.0


def image() -> tuple[torch.Tensor, torch.Tensor]:
    axis = torch.linspace(-1, 1, SIZE)
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    img = (torch.sin(3 * math.pi * x) * torch.cos(2 * math.pi * y)
           + torch.exp(-((x - 0.3) ** 2 + (y + 0.2) ** 2) / 0.05) + 0.5 * torch.tanh(4 * (x + y)))
    img = (img - img.mean()) / img.std()
    rows, cols = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
    return torch.stack([x, y], -1).reshape(-1, 2), img.reshape(-1), torch.stack([cols, rows], -1).reshape(-1, 2)


class FourierMLP(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.register_buffer("freqs", torch.randn(FREQS, 2, generator=torch.Generator().manual_seed(1234)) * SIGMA)
        self.fc1, self.fc2, self.out = nn.Linear(2 * FREQS, 128), nn.Linear(128, 128), nn.Linear(128, 1)
        if bug == "output_bias_100":
            nn.init.constant_(self.out.bias, 100.0)  # noqa: E501  BUG output_bias_100: the output bias set to the raw image's mean brightness, the targets being standardised

    def forward(self, v):  # (B, 2) -> (B,)
        phase = 2 * math.pi * v @ self.freqs.T
        h = torch.cat([torch.sin(phase), torch.cos(phase)], -1)
        return self.out(torch.relu(self.fc2(torch.relu(self.fc1(h))))).squeeze(-1)


class FourierTask:
    metrics = ("train/loss", "val/loss")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "fourier")
        coords, values, pixels = image()
        if self.bug == "coords_in_pixels":
            coords = pixels.float()  # noqa: E501  BUG coords_in_pixels: the coordinates given as pixel indices 0..31, not in [-1, 1]
        order = torch.randperm(SIZE * SIZE, generator=torch.Generator().manual_seed(0))
        self.train = coords[order[:N_TRAIN]], values[order[:N_TRAIN]]
        self.val = coords[order[N_TRAIN:]], values[order[N_TRAIN:]]

    def loss_fn(self, pred, v, y):
        if self.bug == "loss_against_x_coord":
            return F.mse_loss(pred, v[:, 0])  # noqa: E501  BUG loss_against_x_coord: the loss reads the batch's first column (x), not the pixel value
        return F.mse_loss(pred, y)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        v, y = (t[:n] for t in self.train)
        model = FourierMLP(self.bug)

        def evaluate(model):
            with evaluating(model):
                return {"train/loss": F.mse_loss(model(v), y).item(),
                        "val/loss": F.mse_loss(model(self.val[0]), self.val[1]).item()}

        return Problem(model=model, train_size=n, get_batch=lambda idx: (v[idx], y[idx]),
                       loss=lambda model, b: self.loss_fn(model(b[0]), b[0], b[1]), evaluate=evaluate,
                       chance_loss=float(y.var(unbiased=False)) if n > 1 else 1.0,
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
