"""Held-out-58 family 2: a fully convolutional 2-D CNN segmenting discs and squares on noisy 24x24 grey images (a
class per pixel: background, disc, square), with random quarter turns and mirrors of image and mask together in
get_batch, under Adam at batch 16, over dict batches.

An image: a background of a faint random ramp plus pixel noise N(0, 0.12²); one to three shapes (each a disc of radius
2.5..5 or an axis-aligned square of half-side 2..4.5, equally likely) at random places, brightness 0.5..1.0, painted in
order (a later shape covers an earlier one in image and mask alike). Torch seed 0 draws 3000 training and 400
validation images; pixels are standardised with the training split's mean and std. Dict batches {"image" (B, 1, 24,
24) float, "mask" (B, 24, 24) long}; get_batch turns each batch by k quarter turns (k uniform in 0..3) and mirrors it
left-right half the time, the mask with the image (discs and squares keep their class). Model (no normalisation
layers): Conv2d(1, 16, 3, p1) - ReLU - Conv2d(16, 32, 3, dilation 2) - ReLU - Conv2d(32, 32, 3, dilation 4) - ReLU -
Conv2d(32, 32, 3, dilation 2) - ReLU - Conv2d(32, 3, 1): logits (B, 3, 24, 24), receptive field 31 pixels. Loss:
F.cross_entropy over every pixel; Adam at 0.003, batch 16. Metrics: `loss`, pixel `acc` and `iou` (the mean
intersection over union of the disc and square classes, pooled over the split) on the stage's first 200 images
(untransformed) and on validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "mask_not_turned", "background_ignored", "conv_uniform_pm1", "stride_then_upsample")
N_TRAIN, N_VAL, SIZE, CLASSES = 3000, 400, 24, 3


def draw(n: int, g: torch.Generator):
    axis = torch.arange(SIZE, dtype=torch.float32)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    images, masks = torch.empty(n, 1, SIZE, SIZE), torch.zeros(n, SIZE, SIZE, dtype=torch.long)
    for i in range(n):
        a, b = (torch.rand(2, generator=g) - 0.5) * 0.3
        img = a * (xx / SIZE - 0.5) + b * (yy / SIZE - 0.5) + 0.12 * torch.randn(SIZE, SIZE, generator=g)
        for _ in range(int(torch.randint(1, 4, (1,), generator=g))):
            square = bool(torch.rand(1, generator=g) < 0.5)
            r = float(2 + 2.5 * torch.rand(1, generator=g)) if square else float(2.5 + 2.5 * torch.rand(1, generator=g))
            cx, cy = (r + (SIZE - 1 - 2 * r) * torch.rand(2, generator=g)).tolist()
            if square:
                inside = ((xx - cx).abs() <= r) & ((yy - cy).abs() <= r)
            else:
                inside = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
            brightness = float(0.5 + 0.5 * torch.rand(1, generator=g))
            img[inside] = brightness + 0.12 * torch.randn(int(inside.sum()), generator=g)
            masks[i][inside] = 2 if square else 1
        images[i, 0] = img
    return images, masks


class ShapeSegmenter(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        stride = 2 if bug == "stride_then_upsample" else 1  # BUG stride_then_upsample: the stem made stride 2 to save compute, the logits upsampled back (nearest) in forward
        self.convs = nn.ModuleList([nn.Conv2d(1, 16, 3, stride=stride, padding=1),
                                    nn.Conv2d(16, 32, 3, padding=2, dilation=2),
                                    nn.Conv2d(32, 32, 3, padding=4, dilation=4),
                                    nn.Conv2d(32, 32, 3, padding=2, dilation=2)])
        self.head = nn.Conv2d(32, CLASSES, 1)
        if bug == "conv_uniform_pm1":
            [nn.init.uniform_(c.weight, -1.0, 1.0) for c in self.convs]  # BUG conv_uniform_pm1: uniform_(w, -1, 1) on the 3x3 convolutions (a bound of 1/sqrt(fan_in) meant)

    def forward(self, image):  # (B, 1, H, W) -> (B, 3, H, W) logits
        h = image
        for conv in self.convs:
            h = F.relu(conv(h))
        logits = self.head(h)
        if logits.shape[-1] != image.shape[-1]:
            logits = F.interpolate(logits, size=image.shape[-2:], mode="nearest")
        return logits


def pixel_loss(logits, mask, bug: str = "none"):
    if bug == "background_ignored":
        return F.cross_entropy(logits, mask, ignore_index=0)  # BUG background_ignored: ignore_index=0 ("don't train on the background"), so the background class is never scored
    return F.cross_entropy(logits, mask)


def turned(image, mask, g: torch.Generator, bug: str = "none"):
    """The same random quarter turn and left-right mirror for every image and mask of a batch."""
    k, flip = int(torch.randint(0, 4, (1,), generator=g)), bool(torch.rand(1, generator=g) < 0.5)
    image = image.rot90(k, (-2, -1))
    if bug == "mask_not_turned":
        pass  # BUG mask_not_turned: the mask left unturned (the line that turns it with the image forgotten); the mirror still reaches both
    else:
        mask = mask.rot90(k, (-2, -1))
    if flip:
        image, mask = image.flip(-1), mask.flip(-1)
    return image, mask


def scores(logits, mask):
    pred = logits.argmax(1)
    ious = []
    for c in (1, 2):
        inter, union = ((pred == c) & (mask == c)).sum().item(), ((pred == c) | (mask == c)).sum().item()
        ious.append(inter / union if union else 1.0)
    return (pred == mask).float().mean().item(), sum(ious) / 2


class BlobsTask:
    metrics = ("train/loss", "train/acc", "train/iou", "val/loss", "val/acc", "val/iou")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "blobs")
        g = torch.Generator().manual_seed(0)
        images, masks = draw(N_TRAIN + N_VAL, g)
        mean, std = images[:N_TRAIN].mean(), images[:N_TRAIN].std()
        images = (images - mean) / std
        self.x_train, self.m_train = images[:N_TRAIN], masks[:N_TRAIN]
        self.x_val, self.m_val = images[N_TRAIN:], masks[N_TRAIN:]

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, m = self.x_train[:n], self.m_train[:n]
        model = ShapeSegmenter(self.bug)
        bug, aug = self.bug, torch.Generator().manual_seed(seed)

        def get_batch(idx):
            image, mask = turned(x[idx], m[idx], aug, bug)
            return {"image": image, "mask": mask}

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ms in (("train", x[:200], m[:200]), ("val", self.x_val, self.m_val)):
                    xs, ms = on_device_of(model, xs), on_device_of(model, ms)
                    logits = model(xs)
                    out[f"{split}/loss"] = F.cross_entropy(logits, ms).item()
                    out[f"{split}/acc"], out[f"{split}/iou"] = scores(logits, ms)
            return out

        return Problem(model=model, train_size=n, get_batch=get_batch,
                       loss=lambda model, b: pixel_loss(model(b["image"]), b["mask"], bug), evaluate=evaluate,
                       chance_loss=math.log(CLASSES), forward=lambda model, b: model(b["image"]),
                       targets=lambda b: b["mask"])
