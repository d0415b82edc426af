"""Held-out-46 family 2: a 2-D CNN locating the centre of a ring in a noisy image (coordinate regression), over dict
batches with a random-shift augmentation that moves the target with the image.

An image: 24 x 24 pixels, background N(0, 0.15²); a ring of radius U(2.5, 4.5) and width 1.2 (a soft annulus,
brightness U(0.7, 1.2)) centred at (cx, cy) ~ U(6, 18)²; three bright 1-pixel specks elsewhere. The target: the centre
scaled to [-1, 1] ((c - 12) / 6). Torch seed 0 draws 3000 training and 600 validation images. get_batch shifts each
image by a random (dx, dy) in -2..2 (torch.roll) and the target by the same amount. Model: Conv2d(1, 16, 3, p1) -
ReLU - MaxPool 2 - Conv2d(16, 32, 3, p1) - ReLU - MaxPool 2 - Conv2d(32, 32, 3, p1) - ReLU - Flatten -
Linear(1152, 64) - ReLU - Linear(64, 2). Loss: smooth L1 (beta 0.05) on the scaled centre; Adam at 0.001. Dict batches
{image (B, 1, 24, 24), centre (B, 2)}. Metrics: loss, MSE, and `hit` (the share of images whose predicted centre is
within 0.75 pixel of the true one) on the stage's first 500 images (unshifted) and on validation. Each bug is one
line, marked `# BUG <name>`.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "shift_image_only", "pixels_vs_scaled", "conv_uniform_unit", "sigmoid_output")
N_TRAIN, N_VAL, SIZE, SHIFT, SCALE = 3000, 600, 24, 2, 6.0


def draw(n: int, g: torch.Generator):
    yy, xx = torch.meshgrid(torch.arange(SIZE, dtype=torch.float32), torch.arange(SIZE, dtype=torch.float32),
                            indexing="ij")
    images, centres = torch.randn(n, 1, SIZE, SIZE, generator=g) * 0.15, torch.empty(n, 2)
    for i in range(n):
        cx, cy = (torch.rand(2, generator=g) * 12 + 6).tolist()
        r, bright = float(torch.rand(1, generator=g)) * 2 + 2.5, float(torch.rand(1, generator=g)) * 0.5 + 0.7
        d = ((xx - cx) ** 2 + (yy - cy) ** 2).sqrt()
        images[i, 0] += bright * torch.exp(-((d - r) / 0.6) ** 2)
        specks = torch.randint(0, SIZE, (3, 2), generator=g)
        images[i, 0, specks[:, 0], specks[:, 1]] += 1.0
        centres[i] = torch.tensor([cx, cy])
    return images, (centres - 12) / SCALE


class RingNet(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.Flatten())
        self.head = nn.Sequential(nn.Linear(32 * 6 * 6, 64), nn.ReLU(), nn.Linear(64, 2))
        if bug == "conv_uniform_unit":
            [nn.init.uniform_(m.weight, -1.0, 1.0) for m in self.features if isinstance(m, nn.Conv2d)]  # BUG conv_uniform_unit: U(-1, 1), PyTorch's bound is 1/sqrt(fan_in)

    def forward(self, image):  # (B, 1, 24, 24) -> (B, 2) scaled centre
        out = self.head(self.features(image))
        if self.bug == "sigmoid_output":
            out = torch.sigmoid(out)  # BUG sigmoid_output: a "coordinates are in [0, 1]" habit; the targets are in [-1, 1]
        return out


def shifted(images: torch.Tensor, centres: torch.Tensor, g: torch.Generator, bug: str):
    images, centres = images.clone(), centres.clone()
    for i in range(len(images)):
        dx, dy = (torch.randint(-SHIFT, SHIFT + 1, (2,), generator=g)).tolist()
        images[i] = torch.roll(images[i], (dy, dx), (1, 2))
        if bug == "shift_image_only":
            continue  # BUG shift_image_only: the image is shifted, its target is not
        centres[i] += torch.tensor([dx, dy]) / SCALE
    return images, centres


class RingsTask:
    metrics = ("train/loss", "train/mse", "train/hit", "val/loss", "val/mse", "val/hit")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "rings")
        g = torch.Generator().manual_seed(0)
        (self.x_train, self.y_train), (self.x_val, self.y_val) = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = RingNet(self.bug)
        bug = self.bug
        g = torch.Generator().manual_seed(seed + 1)

        def get_batch(idx):
            images, centres = shifted(x[idx], y[idx], g, bug)
            return {"image": images, "centre": centres}

        def loss(model, b):
            if bug == "pixels_vs_scaled":
                return F.smooth_l1_loss(model(b["image"]) * SCALE + 12, b["centre"], beta=0.05)  # BUG pixels_vs_scaled: the prediction turned into pixels, the target still scaled
            return F.smooth_l1_loss(model(b["image"]), b["centre"], beta=0.05)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:500], y[:500]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    pred = model(xs)
                    err = ((pred - ys) * SCALE).norm(dim=1)
                    out[f"{split}/loss"] = F.smooth_l1_loss(pred, ys, beta=0.05).item()
                    out[f"{split}/mse"] = F.mse_loss(pred, ys).item()
                    out[f"{split}/hit"] = (err < 0.75).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=get_batch, loss=loss, evaluate=evaluate,
                       chance_loss=0.5, forward=lambda model, b: model(b["image"]), targets=lambda b: b["centre"])
