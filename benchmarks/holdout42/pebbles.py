"""Held-out-42 family 2: a fully convolutional BatchNorm CNN segmenting pebbles per pixel (background, round pebble,
square pebble) in noisy 24x24 images.

An image: 1..3 pebbles at random places, each a disc (radius U(2.5, 5)) or an axis-aligned square (half side
U(2, 4.5)), brightness U(0.5, 1) (a later pebble covers an earlier one), on a background U(0, 0.3), plus N(0, 0.15²)
noise; the mask holds the class of each pixel (0 background, 1 disc, 2 square). Training images: torch generator seed 0
(2000); validation: seed 1 (400). Pixels standardised by the training mean and std. Training batches augmented with
torch's global generator: a quarter turn k ~ U{0..3} per image, applied to the image and its mask alike. Model:
Conv2d(1, 16, 3) - BatchNorm - ReLU - Conv2d(16, 32, 3, dilation 2) - BatchNorm - ReLU - Conv2d(32, 32, 3, dilation 4) -
BatchNorm - ReLU - Conv2d(32, 32, 3) - BatchNorm - ReLU - Conv2d(32, 3, 1) (every 3x3 convolution padded to keep 24x24);
per-pixel cross-entropy on (B, 3, 24, 24) logits against (B, 24, 24) class ids; Adam at 0.003. Tuple batches (image (B,
1, 24, 24), mask (B, 24, 24)). Metrics: loss and pixel accuracy on the stage's first 300 images and on validation. Each
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

BUGS = ("none", "rot_mask_opposite", "ignore_background", "bn_gamma_zero", "bns_for_two_blocks")
S, CLASSES = 24, 3
N_TRAIN, N_VAL = 2000, 400


def draw(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    yy, xx = torch.meshgrid(torch.arange(S).float(), torch.arange(S).float(), indexing="ij")
    img = 0.3 * torch.rand(n, 1, 1, generator=g).expand(n, S, S).clone()
    mask = torch.zeros(n, S, S, dtype=torch.long)
    for i in range(n):
        for _ in range(int(torch.randint(1, 4, (1,), generator=g))):
            cy, cx = (3 + 18 * torch.rand(2, generator=g)).tolist()
            bright = 0.5 + 0.5 * float(torch.rand(1, generator=g))
            if float(torch.rand(1, generator=g)) < 0.5:
                r = 2.5 + 2.5 * float(torch.rand(1, generator=g))
                inside, cls = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r, 1
            else:
                a = 2 + 2.5 * float(torch.rand(1, generator=g))
                inside, cls = ((yy - cy).abs() <= a) & ((xx - cx).abs() <= a), 2
            img[i][inside], mask[i][inside] = bright, cls
    return (img + 0.15 * torch.randn(n, S, S, generator=g))[:, None], mask


class PebbleNet(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(1, 16, 3, padding=1), nn.Conv2d(16, 32, 3, padding=2, dilation=2),
                                    nn.Conv2d(32, 32, 3, padding=4, dilation=4), nn.Conv2d(32, 32, 3, padding=1)])
        if bug == "bns_for_two_blocks":
            self.bns = nn.ModuleList([nn.BatchNorm2d(c) for c in (16, 32)])  # BUG bns_for_two_blocks: zip() below stops after two
        else:
            self.bns = nn.ModuleList([nn.BatchNorm2d(c) for c in (16, 32, 32, 32)])
        if bug == "bn_gamma_zero":
            [nn.init.zeros_(bn.weight) for bn in self.bns]  # BUG bn_gamma_zero: the residual-net zero-gamma trick
        self.head = nn.Conv2d(32, CLASSES, 1)

    def forward(self, x):  # (B, 1, 24, 24) -> (B, 3, 24, 24) logits
        for conv, bn in zip(self.convs, self.bns):
            x = F.relu(bn(conv(x)))
        return self.head(x)


class PebblesTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "pebbles")
        x_tr, self.y_train = draw(N_TRAIN, torch.Generator().manual_seed(0))
        x_va, self.y_val = draw(N_VAL, torch.Generator().manual_seed(1))
        mu, sd = x_tr.mean(), x_tr.std()
        self.x_train, self.x_val = (x_tr - mu) / sd, (x_va - mu) / sd

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = PebbleNet(self.bug)

        def get_batch(idx):
            turns = torch.randint(0, 4, (len(idx),)).tolist()
            xb = torch.stack([torch.rot90(x[i], k, (1, 2)) for i, k in zip(idx.tolist(), turns)])
            if self.bug == "rot_mask_opposite":
                yb = torch.stack([torch.rot90(y[i], -k, (0, 1)) for i, k in zip(idx.tolist(), turns)])  # BUG rot_mask_opposite
            else:
                yb = torch.stack([torch.rot90(y[i], k, (0, 1)) for i, k in zip(idx.tolist(), turns)])
            return xb, yb

        def loss(model, b):
            if self.bug == "ignore_background":
                return F.cross_entropy(model(b[0]), b[1], ignore_index=0)  # BUG ignore_background: meant 255 (unlabelled)
            return F.cross_entropy(model(b[0]), b[1])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:300], y[:300]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    logits = model(xs)
                    out[f"{split}/loss"] = F.cross_entropy(logits, ys).item()
                    out[f"{split}/acc"] = (logits.argmax(1) == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=get_batch, loss=loss, evaluate=evaluate,
                       chance_loss=math.log(CLASSES), forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
