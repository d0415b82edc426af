"""Held-out-19 family 1: an entity-embedding tabular classifier (categorical embeddings beside numeric features).

Generated rows (numpy seed 0): three categorical columns (month 12, weekday 7, store 40 levels) and six numeric
columns on their natural, very different scales (an income ~ lognormal x 30,000, an age U(18, 80), a temperature
N(15, 8^2), a distance ~ exponential(300), a ratio U(0, 0.05), a count ~ Poisson(5)). A latent score adds a
random effect per level of each categorical column (std 1, 1, 1.5) and a nonlinear function of the standardised
numeric columns (sin(2 age) + income x temperature + 0.7 tanh(2 distance) - 0.8 ratio^2 + 0.4 count) plus
N(0, 0.1^2) noise; it is cut at the training rows' tertiles into 3 classes (3000 training, 500 validation rows).
The numeric columns are standardised with the training rows' mean and std. Model: one nn.Embedding per
categorical column (dims 4, 3, 8), concatenated with the 6 numeric features (21) -> linear 128 - ReLU -> 64 -
ReLU -> 3 logits, Kaiming-uniform weights and zero biases from an init loop. Loss: cross-entropy. Adam at 0.003.
Tuple batches (categories (B, 3) long, numbers (B, 6) float, classes (B,)). Metrics: loss and accuracy.
Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "numbers_not_divided", "target_rolled", "hidden_zero_init", "embeddings_from_pretrained")
CARDS, DIMS, NUMERIC, CLASSES = (12, 7, 40), (4, 3, 8), 6, 3
N_TRAIN, N_VAL = 3000, 500


class EntityMLP(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.embeds = nn.ModuleList(nn.Embedding(card, dim) for card, dim in zip(CARDS, DIMS))
        if bug == "embeddings_from_pretrained":
            self.embeds = nn.ModuleList(nn.Embedding.from_pretrained(torch.randn(card, dim)) for card, dim in zip(CARDS, DIMS))  # noqa: E501  BUG embeddings_from_pretrained: from_pretrained freezes the tables (freeze=True by default)
        self.fc1 = nn.Linear(sum(DIMS) + NUMERIC, 128)
        self.fc2 = nn.Linear(128, 64)
        self.out = nn.Linear(64, CLASSES)
        for m in (self.fc1, self.fc2, self.out):
            nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
        if bug == "hidden_zero_init":
            nn.init.zeros_(self.fc1.weight)  # BUG hidden_zero_init: the first layer's weight zeroed like its bias

    def forward(self, cats, nums):  # (B, 3) long, (B, 6) float -> (B, 3) logits
        h = torch.cat([emb(cats[:, i]) for i, emb in enumerate(self.embeds)] + [nums], 1)
        return self.out(torch.relu(self.fc2(torch.relu(self.fc1(h)))))


class EntEmbTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "entemb")
        rng = np.random.default_rng(0)
        n = N_TRAIN + N_VAL
        cats = np.stack([rng.integers(card, size=n) for card in CARDS], 1)
        raw = np.stack([rng.lognormal(0, 0.5, n) * 30000, rng.uniform(18, 80, n), rng.normal(15, 8, n),
                        rng.exponential(300, n), rng.uniform(0, 0.05, n), rng.poisson(5, n)], 1)
        mu, sd = raw[:N_TRAIN].mean(0), raw[:N_TRAIN].std(0)
        z = (raw - mu) / sd
        effects = [rng.normal(0, s, card) for s, card in zip((1.0, 1.0, 1.5), CARDS)]
        s = (sum(e[cats[:, i]] for i, e in enumerate(effects)) + np.sin(2 * z[:, 1]) + z[:, 0] * z[:, 2]
             + 0.7 * np.tanh(2 * z[:, 3]) - 0.8 * z[:, 4] ** 2 + 0.4 * z[:, 5] + 0.1 * rng.normal(size=n))
        y = np.digitize(s, np.quantile(s[:N_TRAIN], [1 / 3, 2 / 3]))
        nums = z
        if self.bug == "numbers_not_divided":
            nums = raw - mu  # BUG numbers_not_divided: the numeric columns centred but not divided by their std
        cats, nums = torch.tensor(cats, dtype=torch.long), torch.tensor(nums, dtype=torch.float32)
        y = torch.tensor(y, dtype=torch.long)
        self.train = cats[:N_TRAIN], nums[:N_TRAIN], y[:N_TRAIN]
        self.val = cats[N_TRAIN:], nums[N_TRAIN:], y[N_TRAIN:]

    def loss_fn(self, logits, y):
        if self.bug == "target_rolled":
            return F.cross_entropy(logits, (y + 1) % CLASSES)  # noqa: E501  BUG target_rolled: the loss's targets shifted by one class
        return F.cross_entropy(logits, y)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        cats, nums, y = (t[:n] for t in self.train)
        model = EntityMLP(self.bug)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (c, x, t) in (("train", (cats, nums, y)), ("val", self.val)):
                    logits = model(c, x)
                    out[f"{split}/loss"] = F.cross_entropy(logits, t).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == t).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (cats[idx], nums[idx], y[idx]),
                       loss=lambda model, b: self.loss_fn(model(b[0], b[1]), b[2]), evaluate=evaluate,
                       chance_loss=math.log(CLASSES), forward=lambda model, b: model(b[0], b[1]),
                       targets=lambda b: b[2])
