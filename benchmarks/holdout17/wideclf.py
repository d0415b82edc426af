"""Held-out-17 family 1: a wide MLP classifier with LayerNorm and dropout on generated tabular classes.

scikit-learn's make_classification (2400 rows, 24 features: 10 informative, 6 redundant, 8 noise; 6 classes, two
clusters each, class_sep 2.0, 2% labels flipped; random_state 0) is put on raw measurement scales (feature j
multiplied by a scale 10^u, u uniform in [-1, 3], and offset by 50 times another draw), split 2000 / 400, and
standardised per feature with the training rows' statistics. Model: linear 24 -> 256 - LayerNorm (written out,
eps 1e-5, gain and bias) - ReLU - dropout 0.1, linear 256 -> 256 - LayerNorm - ReLU - dropout 0.1, linear 256 -> 6.
Adam at 0.003, cross-entropy. Tuple batches (features (B, 24), classes (B,)). Goals: train accuracy on 10 and 100
rows, validation accuracy.
Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import make_classification
from torch import nn

from benchmarks.bugsuite.common import check_bug, classifier_problem, subset_size

BUGS = ("none", "features_unscaled", "softmax_before_cross_entropy", "layernorm_over_batch", "dropout_always_on")
FEATURES, CLASSES, HIDDEN, N_TRAIN, N_ALL = 24, 6, 256, 2000, 2400


class LayerNorm(nn.Module):
    def __init__(self, width: int, bug: str):
        super().__init__()
        self.bug = bug
        self.weight, self.bias = nn.Parameter(torch.ones(width)), nn.Parameter(torch.zeros(width))

    def forward(self, h):  # (B, width)
        dim = -1
        if self.bug == "layernorm_over_batch":
            dim = 0  # BUG layernorm_over_batch: each feature normalised over the batch instead of each row
        mean, var = h.mean(dim, keepdim=True), h.var(dim, unbiased=False, keepdim=True)
        return (h - mean) / (var + 1e-5).sqrt() * self.weight + self.bias


class WideMLP(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.fc1, self.norm1 = nn.Linear(FEATURES, HIDDEN), LayerNorm(HIDDEN, bug)
        self.fc2, self.norm2 = nn.Linear(HIDDEN, HIDDEN), LayerNorm(HIDDEN, bug)
        self.drop, self.out = nn.Dropout(0.1), nn.Linear(HIDDEN, CLASSES)

    def forward(self, x):  # (B, 24) -> (B, 6)
        h = self.drop(torch.relu(self.norm1(self.fc1(x))))
        h = torch.relu(self.norm2(self.fc2(h)))
        h = self.drop(h)
        if self.bug == "dropout_always_on":
            h = F.dropout(h, 0.1)  # BUG dropout_always_on: the functional dropout's training=True default, in eval too
        return self.out(h)


class WideClfTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "wideclf")
        x, y = make_classification(n_samples=N_ALL, n_features=FEATURES, n_informative=10, n_redundant=6,
                                   n_classes=CLASSES, n_clusters_per_class=2, class_sep=2.0, flip_y=0.02,
                                   random_state=0)
        rng = np.random.default_rng(0)
        x = x * 10.0 ** rng.uniform(-1, 3, FEATURES) + 50 * rng.normal(size=FEATURES)
        x, y = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.long)
        mean, std = x[:N_TRAIN].mean(0), x[:N_TRAIN].std(0)
        x_scaled = (x - mean) / std
        if self.bug == "features_unscaled":
            x_scaled = x  # BUG features_unscaled: the raw measurement scales fed to the network
        self.x_train, self.y_train = x_scaled[:N_TRAIN], y[:N_TRAIN]
        self.x_val, self.y_val = x_scaled[N_TRAIN:], y[N_TRAIN:]

    def build(self, knobs: Mapping[str, Any], seed: int):
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        loss_fn = None
        if self.bug == "softmax_before_cross_entropy":
            loss_fn = lambda logits, y: F.cross_entropy(logits.softmax(-1), y)  # noqa: E731  BUG softmax_before_cross_entropy: probabilities taken for logits
        return classifier_problem(WideMLP(self.bug), self.x_train[:n], self.y_train[:n], self.x_val, self.y_val,
                                  CLASSES, loss_fn=loss_fn)
