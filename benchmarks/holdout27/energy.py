"""Held-out-27 family 1: an MLP regressing a building's heating load (kW) from eight features in natural units.

Wall area (150..450 m²), roof area (100..250 m²), storey height (3..7 m), glazing share of the walls (0..0.4), the
envelope's U-value (0.2..1.5 W/m²K), indoor set point (18..23 °C), outdoor temperature (-15..15 °C) and occupancy
(0..50 people). The load is physics-like: ((U (wall (1 - glazing) + roof) + 2.8 glazing wall) + 0.17 roof height)
(indoor - outdoor) / 1000 - 0.08 occupancy, plus noise of 2% of its std. Torch seed 0: 3000 training and 1000
validation buildings; features and target standardised with the training buildings' mean and std. Model:
Linear(8, 64) - SiLU - Linear(64, 64) - SiLU - Linear(64, 1), squeezed to (B,). Mean squared error; SGD with
momentum 0.9 at 0.02. Tuple batches (features (B, 8), load (B,)). Metrics: loss (MSE, standardised units) and R² on
the stage's buildings (at most 500) and on validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "prediction_not_squeezed", "val_outdoor_fahrenheit", "features_not_standardised",
        "mse_size_average_false")
N_TRAIN, N_VAL, HIDDEN = 3000, 1000, 64
WALL, ROOF, HEIGHT, GLAZING, U, INDOOR, OUTDOOR, PEOPLE = range(8)


def buildings(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    def u(lo, hi):
        return lo + (hi - lo) * torch.rand(n, generator=g)
    wall, roof, height, glazing = u(150, 450), u(100, 250), u(3, 7), u(0, 0.4)
    uval, indoor, outdoor, people = u(0.2, 1.5), u(18, 23), u(-15, 15), torch.randint(0, 51, (n,), generator=g).float()
    conductance = uval * (wall * (1 - glazing) + roof) + 2.8 * glazing * wall + 0.17 * roof * height  # W/K
    load = conductance * (indoor - outdoor) / 1000 - 0.08 * people                                   # kW
    load = load + 0.02 * load.std() * torch.randn(n, generator=g)
    return torch.stack([wall, roof, height, glazing, uval, indoor, outdoor, people], 1), load


def r2(pred: torch.Tensor, y: torch.Tensor) -> float:
    return 1 - ((pred - y) ** 2).mean().item() / y.var(unbiased=False).item()


class LoadMLP(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.net = nn.Sequential(nn.Linear(8, HIDDEN), nn.SiLU(), nn.Linear(HIDDEN, HIDDEN), nn.SiLU(),
                                 nn.Linear(HIDDEN, 1))

    def forward(self, x):  # (B, 8) -> (B,)
        if self.bug == "prediction_not_squeezed":
            return self.net(x)  # BUG prediction_not_squeezed: (B, 1) returned, .squeeze(-1) left out
        return self.net(x).squeeze(-1)


class EnergyTask:
    metrics = ("train/loss", "train/r2", "val/loss", "val/r2")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "energy")
        g = torch.Generator().manual_seed(0)
        x_train, y_train = buildings(N_TRAIN, g)
        x_val, y_val = buildings(N_VAL, g)
        if self.bug == "val_outdoor_fahrenheit":
            x_val[:, OUTDOOR] = x_val[:, OUTDOOR] * 9 / 5 + 32  # noqa: E501  BUG val_outdoor_fahrenheit: the validation table's outdoor temperature in °F (training: °C)
        mean, std = x_train.mean(0), x_train.std(0)
        y_mean, y_std = y_train.mean(), y_train.std()
        if self.bug == "features_not_standardised":
            self.x_train, self.x_val = x_train, x_val  # BUG features_not_standardised: the raw tables kept
        else:
            self.x_train, self.x_val = (x_train - mean) / std, (x_val - mean) / std
        self.y_train, self.y_val = (y_train - y_mean) / y_std, (y_val - y_mean) / y_std

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = LoadMLP(self.bug)
        if self.bug == "mse_size_average_false":
            criterion = nn.MSELoss(size_average=False)  # BUG mse_size_average_false: the legacy argument sums
        else:
            criterion = nn.MSELoss()

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:500], y[:500]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    pred = model(xs).reshape(-1)
                    out[f"{split}/loss"] = F.mse_loss(pred, ys).item()
                    out[f"{split}/r2"] = r2(pred, ys)
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (x[idx], y[idx]),
                       loss=lambda model, b: criterion(model(b[0]), b[1]), evaluate=evaluate, chance_loss=1.0,
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
