"""Held-out-29 family 1: an MLP naming a gearbox's fault (4 classes) from twelve tabular sensor features.

scikit-learn's make_classification (4000 rows, 12 features of which 6 informative and 2 redundant, 4 classes, two
clusters each, class_sep 1.5, random_state 0); the first 3000 for training, the last 1000 for validation;
standardised with the training statistics. Model: Linear(12, 128) - BatchNorm1d - ReLU - Linear(128, 128) - ReLU -
Linear(128, 4). Cross-entropy; SGD with momentum 0.9 at 0.05. Tuple batches (features (B, 12), fault (B,)). Metrics:
loss and accuracy on the stage's rows (at most 1000) and on validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from sklearn.datasets import make_classification
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "fault_code_column", "loss_over_b_squared", "hidden_layer_std3", "bn_batch_stats_in_eval")
N_TRAIN, N_VAL, CLASSES, FEATURES = 3000, 1000, 4, 12


class GearboxMLP(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.fc1, self.bn = nn.Linear(FEATURES, 128), nn.BatchNorm1d(128)
        self.fc2, self.out = nn.Linear(128, 128), nn.Linear(128, CLASSES)
        if bug == "hidden_layer_std3":
            nn.init.normal_(self.fc2.weight, std=3.0)  # BUG hidden_layer_std3: the second layer drawn with std 3

    def forward(self, x):
        h = self.fc1(x)
        if self.bug == "bn_batch_stats_in_eval":
            h = F.batch_norm(h, None, None, self.bn.weight, self.bn.bias, training=True)  # BUG bn_batch_stats_in_eval
        else:
            h = self.bn(h)
        return self.out(F.relu(self.fc2(F.relu(h))))


class GearboxTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "gearbox")
        x, y = make_classification(n_samples=N_TRAIN + N_VAL, n_features=FEATURES, n_informative=6, n_redundant=2,
                                   n_classes=CLASSES, n_clusters_per_class=2, class_sep=1.5, random_state=0)
        x, y = torch.tensor(x, dtype=torch.float32), torch.tensor(y)
        mean, std = x[:N_TRAIN].mean(0), x[:N_TRAIN].std(0)
        x = (x - mean) / std
        if self.bug == "fault_code_column":
            x[:, 5] = y.float()  # BUG fault_code_column: the fault code written over feature 5 (a leak)
        self.x_train, self.y_train = x[:N_TRAIN], y[:N_TRAIN]
        self.x_val, self.y_val = x[N_TRAIN:], y[N_TRAIN:]

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = GearboxMLP(self.bug)

        def loss(model, b):
            if self.bug == "loss_over_b_squared":
                return F.cross_entropy(model(b[0]), b[1], reduction="sum") / len(b[1]) ** 2  # BUG loss_over_b_squared
            return F.cross_entropy(model(b[0]), b[1])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:1000], y[:1000]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    logits = model(xs)
                    out[f"{split}/loss"] = F.cross_entropy(logits, ys).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (x[idx], y[idx]), loss=loss,
                       evaluate=evaluate, chance_loss=math.log(CLASSES),
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
