"""Held-out-55 family 1: an MLP predicting how a cupping panel's votes split over five flavour profiles of a coffee
lot from ten lab and farm measurements, trained on the vote shares (soft targets) with a KL divergence, under Adamax,
over dict batches.

A lot: roast colour (Agtron) U(30, 90), moisture (%) ~ N(11, 1), density (g/L) ~ N(700, 40), pH ~ N(5.0, 0.15),
caffeine (%) ~ N(1.2, 0.2), chlorogenic acid (%) ~ N(6, 1.2), altitude (m) U(800, 2200), fermentation (h) U(12, 72),
drying (days) U(8, 30), sucrose (%) ~ N(7, 1.5). From the population z-scores, five profile scores (fruity, floral,
nutty, chocolate, earthy; see `profile_probs`), times 1.6, through a softmax give the panel's preference; 40 tasters
vote (multinomial) and the target is the vote shares. NumPy seed 0 draws 3000 training and 600 validation lots;
features are standardised with the training split's per-column mean and std. Model: Linear(10, 96) - GELU -
Linear(96, 96) - GELU - Linear(96, 5). Loss: F.kl_div(log_softmax(logits), shares, reduction="batchmean"); Adamax at
0.01. Dict batches {"lab" (B, 10), "shares" (B, 5)}. Metrics: `loss` (the KL to the vote shares) and `acc` (the
model's top profile is the panel's expected favourite, the argmax of its preference) on the stage's first 500 lots and
on validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "sorted_every_column", "kl_target_logged", "trunc_normal_default_std", "features_detached")
N_TRAIN, N_VAL, FEATURES, HIDDEN, PROFILES, TASTERS = 3000, 600, 10, 96, 5, 40
MEAN = np.array([60, 11, 700, 5.0, 1.2, 6, 1500, 42, 19, 7])
STD = np.array([60 / 12 ** 0.5, 1, 40, 0.15, 0.2, 1.2, 1400 / 12 ** 0.5, 60 / 12 ** 0.5, 22 / 12 ** 0.5, 1.5])


def profile_probs(raw: np.ndarray) -> np.ndarray:
    z = (raw - MEAN) / STD
    roast, moist, dens, ph, caf, chloro, alt, ferm, dry, sucr = z.T
    s = np.stack([1.0 * ferm + 0.6 * alt + 0.5 * roast - 0.3 * ph,
                  1.0 * alt + 0.7 * roast - 0.5 * caf + 0.4 * ph * roast,
                  -0.6 * roast + 0.6 * dens + 0.5 * sucr * dry,
                  -1.0 * roast + 0.5 * sucr + 0.4 * chloro - 0.3 * ferm,
                  0.8 * moist + 0.6 * dry - 0.6 * alt + 0.5 * chloro * caf], 1) * 1.6
    e = np.exp(s - s.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def draw(n: int, rng: np.random.Generator):
    raw = np.column_stack([rng.uniform(30, 90, n), rng.normal(11, 1, n), rng.normal(700, 40, n),
                           rng.normal(5.0, 0.15, n), rng.normal(1.2, 0.2, n), rng.normal(6, 1.2, n),
                           rng.uniform(800, 2200, n), rng.uniform(12, 72, n), rng.uniform(8, 30, n),
                           rng.normal(7, 1.5, n)])
    probs = profile_probs(raw)
    votes = np.stack([rng.multinomial(TASTERS, p) for p in probs])
    return raw, votes / TASTERS, probs.argmax(1)


class PanelMLP(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.encoder = nn.Sequential(nn.Linear(FEATURES, HIDDEN), nn.GELU())
        self.body = nn.Sequential(nn.Linear(HIDDEN, HIDDEN), nn.GELU())
        self.head = nn.Linear(HIDDEN, PROFILES)
        if bug == "trunc_normal_default_std":
            [nn.init.trunc_normal_(m.weight) for m in self.modules() if isinstance(m, nn.Linear)]  # BUG trunc_normal_default_std: trunc_normal_(w) without std=0.02: its default std is 1.0

    def forward(self, x):  # (B, 10) -> (B, 5) logits
        h = self.body(self.encoder(x))
        if self.bug == "features_detached":
            h = h.detach()  # BUG features_detached: the features detached for a logging hook, and the head fed that copy
        return self.head(h)


def kl_loss(logits, shares, bug: str = "none"):
    logp = F.log_softmax(logits, -1)
    if bug == "kl_target_logged":
        return F.kl_div(logp, shares.log(), reduction="batchmean")  # BUG kl_target_logged: the target logged too ("kl_div wants logs"), log_target not set: log 0 = -inf for a profile without a vote
    return F.kl_div(logp, shares, reduction="batchmean")


class CuppingTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "cupping")
        rng = np.random.default_rng(0)
        raw, shares, favourite = draw(N_TRAIN + N_VAL, rng)
        if bug == "sorted_every_column":
            raw.sort(axis=0)  # BUG sorted_every_column: meant to order the lots by roast (raw[raw[:, 0].argsort()]), sorts each column on its own
        mean, std = raw[:N_TRAIN].mean(0), raw[:N_TRAIN].std(0)
        x = torch.tensor((raw - mean) / std, dtype=torch.float32)
        t = torch.tensor(shares, dtype=torch.float32)
        f = torch.tensor(favourite, dtype=torch.long)
        self.x_train, self.t_train, self.f_train = x[:N_TRAIN], t[:N_TRAIN], f[:N_TRAIN]
        self.x_val, self.t_val, self.f_val = x[N_TRAIN:], t[N_TRAIN:], f[N_TRAIN:]
        self.chance = float((t * (t.clamp_min(1e-12).log() + np.log(PROFILES))).sum(1).mean())

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, t, f = self.x_train[:n], self.t_train[:n], self.f_train[:n]
        model = PanelMLP(self.bug)
        bug = self.bug

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ts, fs in (("train", x[:500], t[:500], f[:500]),
                                          ("val", self.x_val, self.t_val, self.f_val)):
                    xs, ts, fs = on_device_of(model, xs), on_device_of(model, ts), on_device_of(model, fs)
                    logits = model(xs)
                    out[f"{split}/loss"] = kl_loss(logits, ts).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == fs).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: {"lab": x[idx], "shares": t[idx]},
                       loss=lambda model, b: kl_loss(model(b["lab"]), b["shares"], bug), evaluate=evaluate,
                       chance_loss=self.chance, forward=lambda model, b: model(b["lab"]),
                       targets=lambda b: b["shares"])
