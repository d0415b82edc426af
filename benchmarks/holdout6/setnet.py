"""Held-out-6 family 1: a DeepSets classifier over variable-size 2-D point clouds (padding plus a mask).

Each set holds 16..32 points drawn from one of 4 shapes: a noisy unit circle, the uniform square [-1, 1]^2, a
Gaussian blob (std 0.5), a noisy segment through the origin at a random angle. Padded to 32 points with zeros and
a mask. Each point's features are (x, y, radius); a shared MLP phi embeds every point, a masked mean pools the
set (permutation-invariant, blind to the padding), an MLP rho classifies. Dict batches `points`, `mask`, `label`.
Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "labels_from_val", "mask_count_over_batch", "log_radius_padding", "y_in_mm")
CLASSES, MIN_POINTS, MAX_POINTS, WIDTH = 4, 16, 32, 64
TRAIN_SEED, VAL_SEED = 0, 1


def point_sets(n: int, seed: int, bug: str) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    label = torch.randint(0, CLASSES, (n,), generator=g)
    size = torch.randint(MIN_POINTS, MAX_POINTS + 1, (n,), generator=g)
    u = torch.rand(n, MAX_POINTS, generator=g)
    noise = 0.05 * torch.randn(n, MAX_POINTS, 2, generator=g)
    angle = 2 * math.pi * u
    circle = torch.stack([angle.cos(), angle.sin()], -1) + noise
    square = 2 * torch.rand(n, MAX_POINTS, 2, generator=g) - 1
    blob = 0.3 * torch.randn(n, MAX_POINTS, 2, generator=g)
    theta = math.pi * torch.rand(n, 1, generator=g)
    segment = (2 * u - 1)[..., None] * torch.stack([theta.cos(), theta.sin()], -1) + noise
    shapes = torch.stack([circle, square, blob, segment], 1)  # (n, 4, MAX_POINTS, 2)
    points = shapes[torch.arange(n), label]
    mask = torch.arange(MAX_POINTS) < size[:, None]
    points = points * mask[..., None]  # padding is exactly zero
    if bug == "y_in_mm":
        points[..., 1] *= 1000  # BUG y_in_mm: the y coordinate exported in millimetres, x in metres
    return {"points": points, "mask": mask, "label": label}


class DeepSets(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.phi = nn.Sequential(nn.Linear(3, WIDTH), nn.ReLU(), nn.Linear(WIDTH, WIDTH), nn.ReLU())
        self.rho = nn.Sequential(nn.Linear(WIDTH, WIDTH), nn.ReLU(), nn.Linear(WIDTH, CLASSES))

    def forward(self, points, mask):  # points (B, N, 2), mask (B, N) True on real points
        radius = points.norm(dim=-1, keepdim=True)
        if self.bug == "log_radius_padding":
            radius = torch.log(points.norm(dim=-1, keepdim=True))  # BUG log_radius_padding: log(0) on the padding
        h = self.phi(torch.cat([points, radius], -1))
        m = mask[..., None].float()
        count = m.sum(1)  # (B, 1): each set's own number of points
        if self.bug == "mask_count_over_batch":
            count = m.sum()  # BUG mask_count_over_batch: dim forgotten, the whole batch's point count
        return self.rho((h * m).sum(1) / count)


class SetNetTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none", n_train: int = 3000, n_val: int = 1000):
        self.bug = check_bug(bug, BUGS, "setnet")
        self.train, self.val = point_sets(n_train, TRAIN_SEED, bug), point_sets(n_val, VAL_SEED, bug)
        if bug == "labels_from_val":
            self.train["label"] = point_sets(n_train, VAL_SEED, bug)["label"]  # BUG labels_from_val: val labels

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.train["label"]))
        train = {k: v[:n] for k, v in self.train.items()}
        model = DeepSets(self.bug)

        def forward(model, batch):
            return model(batch["points"], batch["mask"])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, data in (("train", train), ("val", self.val)):
                    logits = forward(model, data)
                    out[f"{split}/loss"] = F.cross_entropy(logits, data["label"]).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == data["label"]).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: {k: v[idx] for k, v in train.items()},
                       loss=lambda model, batch: F.cross_entropy(forward(model, batch), batch["label"]),
                       evaluate=evaluate, chance_loss=math.log(CLASSES), forward=forward,
                       targets=lambda batch: batch["label"])
