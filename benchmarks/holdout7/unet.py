"""Held-out-7 family 3: a small U-Net segmenting generated 16x16 images of squares and discs, pixel by pixel.

Each image holds 1..3 shapes (a filled square or a filled disc, radius 2..4, the same brightness) on a dark
background, plus Gaussian noise (std 0.2); the mask gives each pixel its class (0 background, 1 square, 2 disc;
a later shape covers an earlier one). The U-Net: two conv blocks with 2x2 max-pool downsamplings (16 -> 8 -> 4),
a bottleneck, two transposed-conv upsamplings each concatenated with the encoder's skip features, and a 1x1 conv to
3 logits a pixel. Goal on validation pixel accuracy. Tuple batches (image, mask). Each bug is one line, marked
`# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "flip_image_only", "skip_l2_norm_no_eps", "standardise_over_batch")
SIZE, CLASSES, C = 16, 3, 16
TRAIN_SEED, VAL_SEED = 0, 1


def scenes(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
    mask = torch.zeros(n, SIZE, SIZE, dtype=torch.long)
    shapes = torch.randint(1, 4, (n,), generator=g)
    for k in range(3):
        kind = torch.randint(1, CLASSES, (n,), generator=g)
        r = torch.randint(2, 5, (n, 1, 1), generator=g)
        cy, cx = (torch.randint(2, SIZE - 2, (n, 1, 1), generator=g) for _ in range(2))
        square = ((yy - cy).abs() <= r - 1) & ((xx - cx).abs() <= r - 1)
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2
        inside = torch.where((kind == 1)[:, None, None], square, disc) & (k < shapes)[:, None, None]
        mask = torch.where(inside, kind[:, None, None], mask)
    image = (mask > 0).float() + 0.2 * torch.randn(n, SIZE, SIZE, generator=g)
    return image[:, None], mask


def block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(), nn.Conv2d(cout, cout, 3, padding=1), nn.ReLU())


class UNet(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.enc1, self.enc2, self.mid = block(1, C), block(C, 2 * C), block(2 * C, 4 * C)
        self.up2, self.dec2 = nn.ConvTranspose2d(4 * C, 2 * C, 2, stride=2), block(4 * C, 2 * C)
        self.up1, self.dec1 = nn.ConvTranspose2d(2 * C, C, 2, stride=2), block(2 * C, C)
        self.out = nn.Conv2d(C, CLASSES, 1)

    def skip(self, h):
        if self.bug == "skip_l2_norm_no_eps":
            return h / h.norm(dim=1, keepdim=True)  # BUG skip_l2_norm_no_eps: unit-length skip features, no eps
        return h

    def forward(self, x):  # (B, 1, 16, 16) -> (B, 3, 16, 16)
        if self.bug == "standardise_over_batch":
            x = (x - x.mean(0)) / x.std(0)  # BUG standardise_over_batch: per-pixel statistics of the batch
        e1 = self.enc1(x)
        e2 = self.enc2(F.max_pool2d(e1, 2))
        m = self.mid(F.max_pool2d(e2, 2))
        d2 = self.dec2(torch.cat([self.up2(m), self.skip(e2)], 1))
        d1 = self.dec1(torch.cat([self.up1(d2), self.skip(e1)], 1))
        return self.out(d1)


class UNetTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none", n_train: int = 1000, n_val: int = 300):
        self.bug = check_bug(bug, BUGS, "unet")
        self.train, self.val = scenes(n_train, TRAIN_SEED), scenes(n_val, VAL_SEED)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.train[0]))
        x_train, y_train = self.train[0][:n], self.train[1][:n]
        model = UNet(self.bug)
        flips = torch.Generator().manual_seed(seed)

        def get_batch(idx):
            x, y = x_train[idx], y_train[idx]
            flip = torch.rand(len(idx), generator=flips) < 0.5  # augmentation: a random horizontal flip
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            if self.bug != "flip_image_only":
                y = torch.where(flip[:, None, None], y.flip(-1), y)  # BUG flip_image_only: this line missing
            return x, y

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (x, y) in (("train", (x_train, y_train)), ("val", self.val)):
                    logits = model(x)
                    out[f"{split}/loss"] = F.cross_entropy(logits, y).item()
                    out[f"{split}/acc"] = (logits.argmax(1) == y).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=get_batch,
                       loss=lambda model, batch: F.cross_entropy(model(batch[0]), batch[1]),
                       evaluate=evaluate, chance_loss=math.log(CLASSES),
                       forward=lambda model, batch: model(batch[0]), targets=lambda batch: batch[1])
