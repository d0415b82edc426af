"""Held-out-38 family 1: an MLP predicting how far a cantilever beam's tip deflects under a load at its end (tabular
regression, mean squared error).

A beam: load P ~ U(100, 2000) N at the tip, length L ~ U(0.5, 3) m, Young's modulus E ~ U(70, 210) GPa (stored in Pa,
as the measurements table gives it), width b and height h ~ U(20, 100) mm of a rectangular section, and the
material's density U(2.7, 7.9) g/cm³ (a column the deflection does not depend on). The target: log10 of the tip
deflection P L³ / (3 E I), I = b h³ / 12, in mm, plus N(0, 0.01²) measurement noise (it spans about seven decades).
NumPy seed 0 draws 3600 beams; the first 3000 train, the last 600 validate. Every feature column is standardised with
the training mean and std, the target too (`chance_loss` 1: the MSE of predicting the training mean). Model:
Linear(6, 128) - ReLU - Linear(128, 128) - ReLU - Linear(128, 1), squeezed to (B,); MSE; Adam at 0.003. Tuple batches
(features (B, 6) float, target (B,) float). Metrics: MSE and R² (1 - MSE / the split's target variance) on the stage's
first 500 beams and on validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "split_sorted_by_target", "modulus_left_in_pascals", "squared_mean_error", "constant_init",
        "relu_on_output")
FEATURES = ("load_N", "length_m", "modulus_Pa", "width_mm", "height_mm", "density")
N_TRAIN, N_VAL = 3000, 600


def draw(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    p, length = rng.uniform(100, 2000, n), rng.uniform(0.5, 3.0, n)
    e = rng.uniform(70, 210, n) * 1e9
    b, h, rho = rng.uniform(20, 100, n), rng.uniform(20, 100, n), rng.uniform(2.7, 7.9, n)
    inertia = (b / 1000) * (h / 1000) ** 3 / 12
    y = np.log10(p * length ** 3 / (3 * e * inertia) * 1000) + rng.normal(0, 0.01, n)
    return np.stack([p, length, e, b, h, rho], 1), y


class BeamMLP(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.fc1, self.fc2, self.out = nn.Linear(len(FEATURES), 128), nn.Linear(128, 128), nn.Linear(128, 1)
        if bug == "constant_init":
            [nn.init.constant_(p, 0.01) for p in self.parameters()]  # BUG constant_init: every weight and bias 0.01

    def forward(self, x):  # (B, 6) -> (B,)
        h = F.relu(self.fc2(F.relu(self.fc1(x))))
        if self.bug == "relu_on_output":
            return F.relu(self.out(h)).squeeze(-1)  # BUG relu_on_output: the hidden layers' ReLU copied to the output
        return self.out(h).squeeze(-1)


class BeamsTask:
    metrics = ("train/loss", "train/r2", "val/loss", "val/r2")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "beams")
        x, y = draw(N_TRAIN + N_VAL, np.random.default_rng(0))
        if self.bug == "split_sorted_by_target":
            x, y = x[np.argsort(y)], y[np.argsort(y)]  # BUG split_sorted_by_target: the table sorted, then split
        x_tr, y_tr, x_va, y_va = x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]
        scaled = [0, 1, 2, 3, 4, 5]
        if self.bug == "modulus_left_in_pascals":
            scaled = [0, 1, 3, 4, 5]  # BUG modulus_left_in_pascals: the modulus (in Pa) left out of the scaled columns
        mu, sd = np.zeros(x.shape[1]), np.ones(x.shape[1])
        mu[scaled], sd[scaled] = x_tr[:, scaled].mean(0), x_tr[:, scaled].std(0)
        y_mu, y_sd = y_tr.mean(), y_tr.std()
        self.x_train = torch.tensor((x_tr - mu) / sd, dtype=torch.float32)
        self.x_val = torch.tensor((x_va - mu) / sd, dtype=torch.float32)
        self.y_train = torch.tensor((y_tr - y_mu) / y_sd, dtype=torch.float32)
        self.y_val = torch.tensor((y_va - y_mu) / y_sd, dtype=torch.float32)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = BeamMLP(self.bug)

        def loss(model, b):
            pred, target = model(b[0]), b[1]
            if self.bug == "squared_mean_error":
                return ((pred - target).mean()) ** 2  # BUG squared_mean_error: the square of the mean error
            return F.mse_loss(pred, target)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:500], y[:500]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    mse = F.mse_loss(model(xs), ys).item()
                    out[f"{split}/loss"] = mse
                    out[f"{split}/r2"] = 1.0 - mse / max(ys.var(unbiased=False).item(), 1e-12)
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (x[idx], y[idx]), loss=loss,
                       evaluate=evaluate, chance_loss=1.0, forward=lambda model, b: model(b[0]),
                       targets=lambda b: b[1])
