"""Handwritten digits: scikit-learn's bundled 8x8 images (1797 of them, no download).

Knob: `subset`, the number of training images. Validation is a fixed 20% held out.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from orchestrator.task import Problem

from .classification import CLASSIFICATION_METRICS, tensor_problem


class DigitsTask:
    metrics = CLASSIFICATION_METRICS

    def __init__(self, hidden: int = 128, val_fraction: float = 0.2, scale_inputs: bool = True):
        from sklearn.datasets import load_digits

        data = load_digits()
        x = torch.tensor(data.data, dtype=torch.float32)
        y = torch.tensor(data.target, dtype=torch.long)
        if scale_inputs:  # pixels are 0..16: centre and scale them, as SGD is not scale invariant
            x = (x - x.mean(0)) / (x.std(0) + 1.0)
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))  # fixed split
        n_val = int(len(x) * val_fraction)
        self.x_val, self.y_val = x[order[:n_val]], y[order[:n_val]]
        self.x_train, self.y_train = x[order[n_val:]], y[order[n_val:]]
        self.hidden = hidden

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        n = min(int(knobs.get("subset", len(self.x_train))), len(self.x_train))
        model = nn.Sequential(nn.Linear(64, self.hidden), nn.ReLU(), nn.Linear(self.hidden, 10))
        return tensor_problem(model, self.x_train[:n], self.y_train[:n], self.x_val, self.y_val, classes=10)
