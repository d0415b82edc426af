"""Held-out-42 family 1: an MLP (ReLU, dropout) regressing three properties of the image a thin lens forms (multi-output
regression).

A setting: focal length f ~ U(5, 50) cm, object distance d = f r with r ~ U(2, 6), object height h ~ U(1, 10) cm,
aperture ~ U(1, 8) cm and wavelength ~ U(400, 700) nm (both irrelevant). Targets (thin-lens equation): the image
distance v = f d / (d - f) (cm), the magnification m = v / d and the image height m h (cm), each plus 1% noise. NumPy
seed 0 draws 3600 settings; the first 3000 train, the last 600 validate; the five features and the three targets are
standardised with the training statistics (`chance_loss` 1: a mean square over standardised targets). The targets are
kept as a (3, N) array, one row per quantity, as computed; the batch function transposes them. Model: Linear(5, 128) -
ReLU - dropout 0.1 - Linear(128, 128) - ReLU - dropout 0.1 - Linear(128, 3); MSE; Adam at 0.003. Dict batches
{x (B, 5), y (B, 3)}. Metrics: MSE and R² (1 - MSE / variance, averaged over the three outputs) on the stage's first
500 settings and on validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "targets_reshape_not_transpose", "cross_entropy_on_regression", "out_bias_raw_means",
        "dropout_always_on")
N_TRAIN, N_VAL, FEATURES, OUTPUTS = 3000, 600, 5, 3


def draw(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    f, r, h = rng.uniform(5, 50, n), rng.uniform(2, 6, n), rng.uniform(1, 10, n)
    aperture, wavelength = rng.uniform(1, 8, n), rng.uniform(400, 700, n)
    d = f * r
    v = f * d / (d - f)
    m = v / d
    y = np.stack([v, m, m * h]) * (1 + 0.01 * rng.standard_normal((3, n)))  # (3, n): one row per quantity
    return np.stack([f, d, h, aperture, wavelength], 1), y


class LensMLP(nn.Module):
    def __init__(self, bug: str, y_raw_mean: np.ndarray):
        super().__init__()
        self.bug = bug
        self.fc1, self.fc2, self.out = nn.Linear(FEATURES, 128), nn.Linear(128, 128), nn.Linear(128, OUTPUTS)
        if bug == "out_bias_raw_means":
            self.out.bias.data = torch.tensor(y_raw_mean, dtype=torch.float32)  # BUG out_bias_raw_means: raw, not standardised

    def forward(self, x):  # (B, 5) -> (B, 3)
        h = F.relu(self.fc1(x))
        if self.bug == "dropout_always_on":
            h = F.dropout(h, 0.1)  # BUG dropout_always_on: training= left at its default True
        else:
            h = F.dropout(h, 0.1, self.training)
        h = F.dropout(F.relu(self.fc2(h)), 0.1, self.training)
        return self.out(h)


class LensesTask:
    metrics = ("train/loss", "train/r2", "val/loss", "val/r2")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "lenses")
        x, y = draw(N_TRAIN + N_VAL, np.random.default_rng(0))
        x_tr, x_va, y_tr, y_va = x[:N_TRAIN], x[N_TRAIN:], y[:, :N_TRAIN], y[:, N_TRAIN:]
        mu, sd = x_tr.mean(0), x_tr.std(0)
        self.y_mu, y_sd = y_tr.mean(1, keepdims=True), y_tr.std(1, keepdims=True)
        self.x_train = torch.tensor((x_tr - mu) / sd, dtype=torch.float32)
        self.x_val = torch.tensor((x_va - mu) / sd, dtype=torch.float32)
        self.y_train = torch.tensor((y_tr - self.y_mu) / y_sd, dtype=torch.float32)  # (3, N)
        self.y_val = torch.tensor((y_va - self.y_mu) / y_sd, dtype=torch.float32).T.contiguous()  # (N, 3)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:, :n]
        model = LensMLP(self.bug, self.y_mu[:, 0])

        def get_batch(idx):
            if self.bug == "targets_reshape_not_transpose":
                return {"x": x[idx], "y": y[:, idx].reshape(len(idx), OUTPUTS)}  # BUG targets_reshape_not_transpose
            return {"x": x[idx], "y": y[:, idx].T}

        def loss(model, b):
            if self.bug == "cross_entropy_on_regression":
                return F.cross_entropy(model(b["x"]), b["y"])  # BUG cross_entropy_on_regression: copied from a classifier
            return F.mse_loss(model(b["x"]), b["y"])

        train_eval = {"x": x[:500], "y": y[:, :500].T}

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", {"x": self.x_val, "y": self.y_val})):
                    b = on_device_of(model, b)
                    err = ((model(b["x"]) - b["y"]) ** 2).mean(0)
                    out[f"{split}/loss"] = err.mean().item()
                    out[f"{split}/r2"] = (1 - err / b["y"].var(0, unbiased=False)).mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=get_batch, loss=loss, evaluate=evaluate, chance_loss=1.0,
                       forward=lambda model, b: model(b["x"]), targets=lambda b: b["y"])
