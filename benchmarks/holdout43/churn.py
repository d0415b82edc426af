"""Held-out-43 family 1: an MLP with embeddings for categorical columns classifying a telecom customer as staying,
downgrading or leaving (tabular classification, three classes), over namedtuple batches.

A customer: tenure U{1..72} months, monthly charge U(20, 120), support calls Poisson(1.5), age U(18, 80) (these four
standardised with the training mean and std) and data use in GB (0 for a fifth of the customers, else lognormal,
mean ~4), passed raw: the model's first layer takes log1p of it and standardises it with fixed training statistics;
four categorical columns, read from the file as strings: plan (4), region (6), contract (month / 1 year / 2 years)
and payment (4), turned into ids by factorising the training split (order of first appearance) and applying that
mapping to the validation split. The class: the argmax of three scores (stay 0; downgrade and leave linear in the
columns, with per-category effects and a calls x month-contract interaction, x 3) plus Gumbel noise (Bayes accuracy
~0.90). NumPy seed 0 draws 3600 customers; the first 3000 train, the last 600 validate. Model: an Embedding(k, 4)
per categorical column, concatenated with the five numeric columns (21), Linear(21, 64) - ReLU - Dropout(0.4) -
Linear(64, 64) - ReLU - Linear(64, 3), the output bias set to the log of the stage's class frequencies; cross-entropy;
Adam at 0.003. Namedtuple batches Batch(num (B, 5) float, cat (B, 4) long, label (B,) long). Metrics: loss and
accuracy on the stage's first 500 customers and on validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from collections import namedtuple
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "codes_per_split", "log_not_log1p", "dropout_built_in_forward", "prior_bias_unlogged")
Batch = namedtuple("Batch", "num cat label")
PLANS, REGIONS, CONTRACTS, PAYMENTS = ("basic", "plus", "family", "max"), ("north", "south", "east", "west",
                                                                          "centre", "coast"), \
    ("month", "year1", "year2"), ("card", "debit", "invoice", "voucher")
LEVELS = (PLANS, REGIONS, CONTRACTS, PAYMENTS)
N_TRAIN, N_VAL, CLASSES = 3000, 600, 3


def draw(n: int, rng: np.random.Generator):
    tenure = rng.integers(1, 73, n).astype(float)
    charge = rng.uniform(20, 120, n)
    calls = rng.poisson(1.5, n).astype(float)
    age = rng.uniform(18, 80, n)
    gb = np.where(rng.random(n) < 0.2, 0.0, rng.lognormal(1.0, 0.8, n))
    cats = [rng.integers(0, len(levels), n) for levels in LEVELS]
    plan, region, contract, pay = cats
    tz, cz, kz = (tenure - 36) / 20, (charge - 70) / 29, (calls - 1.5) / 1.2
    gz = (np.log1p(gb) - 1.2) / 0.8
    month = (contract == 0).astype(float)
    down = (-0.3 + 0.9 * cz - 0.6 * gz + np.array([-1.2, 0.3, 0.6, 1.4])[plan]
            + np.array([0.8, -0.8, 0.0, 0.5, -0.5, 0.0])[region] - 0.4 * (contract == 2))
    leave = (-0.8 + 1.0 * kz + 1.3 * month - 0.9 * tz + np.array([0.5, 0.0, -0.6, -0.2])[plan]
             + np.array([-0.6, 0.9, 0.4, -1.0, 0.0, 0.7])[region] + np.array([0.0, -0.3, 0.8, 0.4])[pay]
             + 0.8 * kz * month)
    scores = 3.0 * np.stack([np.zeros(n), down, leave], 1) + rng.gumbel(size=(n, 3))
    y = scores.argmax(1)
    num = np.stack([tenure, charge, calls, age, gb], 1)
    strings = [np.array(levels)[c] for levels, c in zip(LEVELS, cats)]  # the file's categorical columns
    return num, strings, y


def factorize(column: np.ndarray) -> dict:
    """pandas.factorize's mapping: each value's id in order of first appearance."""
    return {v: i for i, v in enumerate(dict.fromkeys(column.tolist()))}


class ChurnMLP(nn.Module):
    def __init__(self, gb_mu: float, gb_sd: float, bug: str):
        super().__init__()
        self.bug = bug
        self.embs = nn.ModuleList(nn.Embedding(len(levels), 4) for levels in LEVELS)
        self.fc1, self.fc2, self.out = nn.Linear(5 + 4 * len(LEVELS), 64), nn.Linear(64, 64), nn.Linear(64, CLASSES)
        self.drop = nn.Dropout(0.4)
        self.gb_mu, self.gb_sd = gb_mu, gb_sd

    def forward(self, num, cat):  # (B, 5), (B, 4) -> (B, 3) logits
        if self.bug == "log_not_log1p":
            gb = (torch.log(num[:, 4:]) - self.gb_mu) / self.gb_sd  # BUG log_not_log1p: a fifth use no data, log(0)
        else:
            gb = (torch.log1p(num[:, 4:]) - self.gb_mu) / self.gb_sd
        x = torch.cat([num[:, :4], gb] + [emb(cat[:, i]) for i, emb in enumerate(self.embs)], 1)
        h = F.relu(self.fc1(x))
        if self.bug == "dropout_built_in_forward":
            h = nn.Dropout(0.4)(h)  # BUG dropout_built_in_forward: a new module, always in training mode
        else:
            h = self.drop(h)
        return self.out(F.relu(self.fc2(h)))


class ChurnTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "churn")
        num, strings, y = draw(N_TRAIN + N_VAL, np.random.default_rng(0))
        tr, va = slice(0, N_TRAIN), slice(N_TRAIN, None)
        cat_tr, cat_va = [], []
        for col in strings:
            codes = factorize(col[tr])
            cat_tr.append([codes[v] for v in col[tr]])
            if self.bug == "codes_per_split":
                codes = factorize(col[va])  # BUG codes_per_split: the validation split factorised on its own
            cat_va.append([codes[v] for v in col[va]])
        mu, sd = num[tr, :4].mean(0), num[tr, :4].std(0)
        lg = np.log1p(num[tr, 4])
        self.gb_mu, self.gb_sd = float(lg.mean()), float(lg.std())

        def numeric(x):
            return torch.tensor(np.concatenate([(x[:, :4] - mu) / sd, x[:, 4:]], 1), dtype=torch.float32)

        self.num_train, self.num_val = numeric(num[tr]), numeric(num[va])
        self.cat_train, self.cat_val = torch.tensor(cat_tr).T.contiguous(), torch.tensor(cat_va).T.contiguous()
        self.y_train, self.y_val = torch.tensor(y[tr]), torch.tensor(y[va])

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        num, cat, y = self.num_train[:n], self.cat_train[:n], self.y_train[:n]
        model = ChurnMLP(self.gb_mu, self.gb_sd, self.bug)
        counts = torch.bincount(y, minlength=CLASSES).float()
        with torch.no_grad():
            if self.bug == "prior_bias_unlogged":
                model.out.bias.copy_(counts)  # BUG prior_bias_unlogged: the class counts, not log frequencies
            else:
                model.out.bias.copy_(torch.log((counts + 1) / (counts.sum() + CLASSES)))

        def loss(model, b):
            return F.cross_entropy(model(b.num, b.cat), b.label)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, cs, ys in (("train", num[:500], cat[:500], y[:500]),
                                          ("val", self.num_val, self.cat_val, self.y_val)):
                    xs, cs, ys = (on_device_of(model, t) for t in (xs, cs, ys))
                    logits = model(xs, cs)
                    out[f"{split}/loss"] = F.cross_entropy(logits, ys).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: Batch(num[idx], cat[idx], y[idx]), loss=loss,
                       evaluate=evaluate, chance_loss=math.log(CLASSES),
                       forward=lambda model, b: model(b.num, b.cat), targets=lambda b: b.label,
                       extras={"y_val": self.y_val})
