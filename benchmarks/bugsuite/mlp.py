"""Family 1: a two-layer MLP on scikit-learn's bundled 8x8 digits, read as 8-bit pixels (0..255).

Each bug is one line, marked `# BUG <name>`, next to the clean line it replaces.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from orchestrator.task import Problem

from .common import CLASSIFIER_METRICS, check_bug, classifier_problem, subset_size

BUGS = ("none", "shuffled_labels", "unscaled_inputs", "label_in_inputs", "softmax_batch_dim",
        "weights_x100", "dead_relu")


def digits_pixels() -> tuple[torch.Tensor, torch.Tensor]:
    """1797 digit images as 64 features in 0..255 (the bundled copy stores 0..16) and their labels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    return torch.tensor(data.data, dtype=torch.float32) * (255 / 16), torch.tensor(data.target)


class MLPTask:
    metrics = CLASSIFIER_METRICS

    def __init__(self, bug: str = "none", hidden: int = 64, n_val: int = 360):
        self.bug = check_bug(bug, BUGS, "mlp")
        pixels, y = digits_pixels()
        x = (pixels - pixels.mean(0)) / (pixels.std(0) + 16.0)  # +16: border pixels are ~constant
        if bug == "unscaled_inputs":
            x = pixels  # BUG unscaled_inputs: raw 0..255 pixels reach the network
        if bug == "shuffled_labels":
            y = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(1))]  # BUG: labels vs inputs
        if bug == "label_in_inputs":
            x = torch.cat([x, F.one_hot(y, 10).float()], 1)  # BUG label_in_inputs: the answer is a feature
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
        self.x_val, self.y_val = x[order[:n_val]], y[order[:n_val]]
        self.x_train, self.y_train = x[order[n_val:]], y[order[n_val:]]
        self.hidden = hidden

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.x_train))
        first, last = nn.Linear(self.x_train.shape[1], self.hidden), nn.Linear(self.hidden, 10)
        with torch.no_grad():
            if self.bug == "weights_x100":
                for layer in (first, last):
                    layer.weight.mul_(100)  # BUG weights_x100: a "gain" applied to the default init
            if self.bug == "dead_relu":
                first.bias.fill_(-10.0)  # BUG dead_relu: every hidden unit starts (and stays) off
        model = nn.Sequential(first, nn.ReLU(), last)

        def loss_fn(logits, y):
            if self.bug == "softmax_batch_dim":
                return F.nll_loss(F.log_softmax(logits, dim=0), y)  # BUG softmax_batch_dim: over the batch
            return F.nll_loss(F.log_softmax(logits, dim=1), y)

        return classifier_problem(model, self.x_train[:n], self.y_train[:n], self.x_val, self.y_val, 10, loss_fn)
