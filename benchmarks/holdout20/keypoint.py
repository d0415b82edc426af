"""Held-out-20 family 2: a fully convolutional keypoint regressor with a soft-argmax over its heatmap.

Each 24x24 image (torch seed 0; 2000 training, 400 validation) holds one Gaussian blob (width 1.2 pixels,
amplitude 1) at a random sub-pixel position at least 2 pixels from the border, a dimmer square (side 3, value 0.5)
elsewhere as a distractor, and N(0, 0.2^2) noise; the images are standardised with the training pixels' mean and
std. Target: the blob's centre (x = column, y = row) mapped to [-1, 1] like the pixel grid. Model: conv 3x3
(1 -> 16) - ReLU, conv 3x3 (16 -> 32) - ReLU, conv 3x3 (32 -> 32) - ReLU, a 1x1 conv (32 -> 1) giving a heatmap of
logits; a softmax over its 576 positions; the expected x and y under it (grids as buffers). Loss: mean squared
error on (x, y). Adam at 0.003. Tuple batches (images (B, 1, 24, 24), targets (B, 2)). Metrics: MSE and accuracy
(the share of predictions within 1 pixel of the centre; the training side on the first 400 images).
Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "keypoint_xy_swapped", "conv_bias_minus_2", "hard_argmax", "softmax_singleton_channel")
SIZE, N_TRAIN, N_VAL = 24, 2000, 400
PIXEL = 2.0 / (SIZE - 1)


def draw(n: int, g: torch.Generator):
    axis = torch.arange(SIZE).float()
    rows, cols = torch.meshgrid(axis, axis, indexing="ij")
    images, centres = torch.zeros(n, 1, SIZE, SIZE), torch.zeros(n, 2)
    for i in range(n):
        r, c = (2 + (SIZE - 5) * torch.rand(2, generator=g)).tolist()
        images[i, 0] = torch.exp(-((rows - r) ** 2 + (cols - c) ** 2) / (2 * 1.2 ** 2))
        while True:
            sr, sc = torch.randint(SIZE - 3, (2,), generator=g).tolist()
            if abs(sr + 1 - r) > 4 or abs(sc + 1 - c) > 4:
                break
        images[i, 0, sr:sr + 3, sc:sc + 3] += 0.5
        centres[i] = torch.tensor([r, c])
    images += 0.2 * torch.randn(images.shape, generator=g)
    return images, centres * PIXEL - 1  # centres as (row, col) in [-1, 1]


class SoftArgmaxNet(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.body = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(32, 32, 3, padding=1), nn.ReLU())
        self.head = nn.Conv2d(32, 1, 1)
        if bug == "conv_bias_minus_2":
            [nn.init.constant_(conv.bias, -2.0) for conv in self.body[::2]]  # noqa: E501  BUG conv_bias_minus_2: every conv's bias set to -2 (meant to threshold the background noise)
        axis = torch.linspace(-1, 1, SIZE)
        gy, gx = torch.meshgrid(axis, axis, indexing="ij")
        self.register_buffer("grid", torch.stack([gx.flatten(), gy.flatten()], -1))  # (576, 2): x, y per position

    def forward(self, x):  # (B, 1, 24, 24) -> (B, 2) as (x, y)
        heat = self.head(self.body(x))  # (B, 1, 24, 24)
        p = heat.flatten(1).softmax(-1)
        if self.bug == "softmax_singleton_channel":
            p = heat.softmax(1).flatten(1)  # BUG softmax_singleton_channel: the softmax over the heatmap's one channel
        if self.bug == "hard_argmax":
            return self.grid[heat.flatten(1).argmax(-1)]  # BUG hard_argmax: the position of the heatmap's maximum
        return p @ self.grid


class KeypointTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "keypoint")
        g = torch.Generator().manual_seed(0)
        x_train, c_train = draw(N_TRAIN, g)
        x_val, c_val = draw(N_VAL, g)
        mu, sd = x_train.mean(), x_train.std()
        self.x_train, self.x_val = (x_train - mu) / sd, (x_val - mu) / sd
        self.y_train, self.y_val = c_train.flip(-1), c_val.flip(-1)  # (x, y)
        if self.bug == "keypoint_xy_swapped":
            self.y_train, self.y_val = c_train, c_val  # noqa: E501  BUG keypoint_xy_swapped: the targets kept as (row, col) while the soft-argmax gives (x, y)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        x_eval, y_eval = x[:400], y[:400]
        model = SoftArgmaxNet(self.bug)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x_eval, y_eval), ("val", self.x_val, self.y_val)):
                    pred = model(xs)
                    out[f"{split}/loss"] = F.mse_loss(pred, ys).item()
                    out[f"{split}/acc"] = ((pred - ys).norm(dim=-1) < PIXEL).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (x[idx], y[idx]),
                       loss=lambda model, b: F.mse_loss(model(b[0]), b[1]), evaluate=evaluate,
                       chance_loss=float((y ** 2).mean()), forward=lambda model, b: model(b[0]),
                       targets=lambda b: b[1])
