"""Held-out-33 family 2: a fully convolutional CNN locating a plus-shaped marker among distractors: which cell of a
4x4 grid over a noisy 16x16 grey image holds the marker's centre (16 classes).

Each image: a 3x3 plus (5 pixels at 1.0) centred anywhere in rows and columns 1..14, two 3x3 hollow squares (8
pixels at 1.0) elsewhere at random, plus N(0, 0.3²) noise; the class is (row // 4) * 4 + column // 4 of the plus's
centre. Torch seed 0: 2000 training and 500 validation images, standardised with the training mean and std. Model:
Conv(1, 16, 3) - ReLU - Conv(16, 32, 3) - ReLU - max-pool 2 - Conv(32, 32, 3) - ReLU - max-pool 2 - a 1x1 Conv(32, 1):
a 4x4 map whose 16 cells are the 16 logits. Cross-entropy; Adam at 0.003. Tuple batches (image (B, 1, 16, 16),
class (B,)). Metrics: loss and accuracy on the stage's images (at most 1000) and on validation; extras y_val. Each
bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "flip_without_label", "logp_indexed_by_batch", "conv2_std1", "convs_in_list")
N_TRAIN, N_VAL, S, CELL = 2000, 500, 16, 4
CLASSES = (S // CELL) ** 2
NOISE = 0.3
PLUS = torch.tensor([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=torch.float32)
SQUARE = torch.tensor([[1, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=torch.float32)


def draw(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    img = NOISE * torch.randn(n, S, S, generator=g)
    centres = torch.randint(1, S - 1, (n, 3, 2), generator=g)  # the plus, then two squares
    for i in range(n):
        for j, shape in enumerate((PLUS, SQUARE, SQUARE)):
            r, c = centres[i, j].tolist()
            patch = img[i, r - 1:r + 2, c - 1:c + 2]
            img[i, r - 1:r + 2, c - 1:c + 2] = torch.maximum(patch, shape) if j else patch + shape
    y = (centres[:, 0, 0] // CELL) * (S // CELL) + centres[:, 0, 1] // CELL
    return img[:, None], y


class LocateNet(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        if bug == "convs_in_list":
            self.convs = [nn.Conv2d(1, 16, 3, padding=1), nn.Conv2d(16, 32, 3, padding=1)]  # BUG convs_in_list: a plain list
        else:
            self.convs = nn.ModuleList([nn.Conv2d(1, 16, 3, padding=1), nn.Conv2d(16, 32, 3, padding=1)])
        self.c3, self.head = nn.Conv2d(32, 32, 3, padding=1), nn.Conv2d(32, 1, 1)
        if bug == "conv2_std1":
            nn.init.normal_(self.convs[1].weight, std=1.0)  # BUG conv2_std1: std 1 instead of U(-1/12, 1/12) (std 0.048)

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.convs[1](F.relu(self.convs[0](x)))), 2)
        h = F.max_pool2d(F.relu(self.c3(h)), 2)
        return self.head(h).flatten(1)  # (B, 16): the 4x4 cells, row-major


class LocateTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "locate")
        g = torch.Generator().manual_seed(0)
        (xt, yt), (xv, yv) = draw(N_TRAIN, g), draw(N_VAL, g)
        mean, std = xt.mean(), xt.std()
        self.x_train, self.y_train, self.x_val, self.y_val = (xt - mean) / std, yt, (xv - mean) / std, yv

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = LocateNet(self.bug)

        def get_batch(idx):
            xb = x[idx]
            if self.bug == "flip_without_label":
                flip = torch.rand(len(idx)) < 0.5  # BUG flip_without_label: half the images mirrored, their cells not
                xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
            return xb, y[idx]

        def loss(model, b):
            if self.bug == "logp_indexed_by_batch":
                return -F.log_softmax(model(b[0]), -1)[:, b[1]].mean()  # BUG logp_indexed_by_batch: (B, B), not gather
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

        return Problem(model=model, train_size=n, get_batch=get_batch, loss=loss,
                       evaluate=evaluate, chance_loss=math.log(CLASSES), extras={"y_val": self.y_val},
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
