"""Held-out-9 family 4: a RealNVP-style normalising flow on the two moons, trained on the exact NLL.

Points of sklearn's two moons (noise 0.1) drawn on a 1000-pixel canvas (x 250 + 500), then standardised with the
training points' mean and std per coordinate. Eight affine coupling layers (each starting as the identity)
alternate which coordinate they transform: z_j = x_j exp(s(x_i)) + t(x_i), with s = 2 tanh(raw), bounded to
(-2, 2) so that a memorised point cannot become a spike of unbounded density; s and t come from a small MLP
(1 -> 64 -> 64 -> 2) of the other coordinate. The loss is the exact NLL in nats per point:
-(log N(z; 0, I) + sum of the log-determinants). chance_loss is the NLL of the standard Gaussian itself (the
flow's identity map) on standardised data, 1 + ln 2 pi. Problem.best_loss is the data's differential entropy,
computed from the generator's own density (each moon a uniform angle on a half circle plus Gaussian noise,
integrated over 4000 angles) on the validation points, in the standardised units. Tuple batches
(x,). Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
from sklearn.datasets import make_moons
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "divide_by_std_forgotten", "scale_unbounded", "couplings_in_list")
NOISE, CANVAS_SCALE, CANVAS_OFFSET = 0.1, 250.0, 500.0
LAYERS, HIDDEN, SCALE_BOUND = 8, 64, 2.0
TRAIN_SEED, VAL_SEED = 0, 1
LOG_2PI = math.log(2 * math.pi)


def moons_on_canvas(n: int, seed: int) -> torch.Tensor:
    x, _ = make_moons(n, noise=NOISE, random_state=seed)
    return torch.tensor(x, dtype=torch.float32) * CANVAS_SCALE + CANVAS_OFFSET


def moons_entropy(points: torch.Tensor) -> float:
    """Mean -log p(x) under make_moons' own density at `points` (moon units, not the canvas)."""
    t = torch.linspace(0, math.pi, 4000, dtype=torch.float64)
    centres = torch.cat([torch.stack([t.cos(), t.sin()], 1), torch.stack([1 - t.cos(), 0.5 - t.sin()], 1)])
    d2 = ((points.double()[:, None, :] - centres[None]) ** 2).sum(-1)
    log_p = torch.logsumexp(-d2 / (2 * NOISE ** 2), 1) - math.log(len(centres)) - math.log(2 * math.pi * NOISE ** 2)
    return -log_p.mean().item()


class Coupling(nn.Module):
    def __init__(self, transformed: int, bug: str):
        super().__init__()
        self.transformed, self.bug = transformed, bug
        self.net = nn.Sequential(nn.Linear(1, HIDDEN), nn.SiLU(), nn.Linear(HIDDEN, HIDDEN), nn.SiLU(),
                                 nn.Linear(HIDDEN, 2))
        # the last layer starts at zero (Glow, Kingma & Dhariwal 2018): each coupling starts as the identity, so
        # the flow starts at the standard Gaussian rather than at a random warp of it
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, x):  # (B, 2) -> (B, 2), (B,) log-determinant
        keep = x[:, 1 - self.transformed:2 - self.transformed]
        raw, t = self.net(keep).unbind(-1)
        s = SCALE_BOUND * torch.tanh(raw / SCALE_BOUND)
        if self.bug == "scale_unbounded":
            s = raw  # BUG scale_unbounded: the tanh bound dropped, exp(s) free to grow
        moved = x[:, self.transformed] * s.exp() + t
        z = torch.stack([keep[:, 0], moved], 1) if self.transformed else torch.stack([moved, keep[:, 0]], 1)
        return z, s


class RealNVP(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        if bug == "couplings_in_list":
            self.couplings = [Coupling(i % 2, bug) for i in range(LAYERS)]  # BUG couplings_in_list: not registered
        else:
            self.couplings = nn.ModuleList([Coupling(i % 2, bug) for i in range(LAYERS)])

    def forward(self, x):  # (B, 2) -> (B, 3): z and the summed log-determinant
        log_det = torch.zeros(len(x))
        for layer in self.couplings:
            x, s = layer(x)
            log_det = log_det + s
        return torch.cat([x, log_det[:, None]], 1)


def nll(out: torch.Tensor) -> torch.Tensor:
    z, log_det = out[:, :2], out[:, 2]
    log_base = -0.5 * (z ** 2).sum(1) - LOG_2PI
    return -(log_base + log_det).mean()


class FlowTask:
    metrics = ("train/loss", "val/loss")

    def __init__(self, bug: str = "none", n_train: int = 2000, n_val: int = 2000):
        self.bug = check_bug(bug, BUGS, "flow")
        train, val = moons_on_canvas(n_train, TRAIN_SEED), moons_on_canvas(n_val, VAL_SEED)
        mean, std = train.mean(0), train.std(0)
        self.train, self.val = (train - mean) / std, (val - mean) / std
        if bug == "divide_by_std_forgotten":
            self.train, self.val = train - mean, val - mean  # BUG divide_by_std_forgotten: centred, in pixels
        # entropy in standardised units: the moons' own, plus log of the canvas-to-standard Jacobian
        moon_units = (val - CANVAS_OFFSET) / CANVAS_SCALE
        self.best = moons_entropy(moon_units) + torch.log(CANVAS_SCALE / std).sum().item()

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.train))
        train = self.train[:n]
        model = RealNVP(self.bug)

        def evaluate(model):
            with evaluating(model):
                return {"train/loss": nll(model(train)).item(), "val/loss": nll(model(self.val)).item()}

        return Problem(model=model, train_size=n, get_batch=lambda idx: (train[idx],),
                       loss=lambda model, batch: nll(model(batch[0])), evaluate=evaluate,
                       chance_loss=1 + LOG_2PI, forward=lambda model, batch: model(batch[0]), best_loss=self.best)
