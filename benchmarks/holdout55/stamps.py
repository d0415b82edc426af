"""Held-out-55 family 2: a Siamese 2-D CNN telling whether two noisy ink impressions come from the same rubber stamp,
under Adagrad, over dataclass batches of pairs.

Eight stamps: fixed random 5 x 5 binary motifs (torch seed 123, each at least 8 inked cells). An impression: a 16 x 16
canvas, the stamp's motif at a random place (its inked cells at an ink level U(0.6, 1.0)), each inked cell dropped
with probability 0.1 (worn ink), a background smudge level U(0, 0.2) and pixel noise N(0, 0.15), then centred at 0.3
and scaled by 1 / 0.35 (fixed constants, ~ the data's mean and std). A pair: two impressions, of the same stamp
(label 1, half the pairs) or of two different ones (label 0). Torch seed 0 draws 3000 training and 600 validation
pairs. Dataclass batches Pair(left (B, 1, 16, 16), right (B, 1, 16, 16), same (B,) float). Model: one tower shared by
both sides, Conv2d(1, 16, 3, pad 1) - ReLU - MaxPool2d(2) - Conv2d(16, 32, 3, pad 1) - ReLU - Conv2d(32, 32, 3, pad 1)
- ReLU - max over the pixels -> a 32-d code scaled to unit length; the pair's logit is bias - softplus(scale) x the
squared distance of the two codes (scale and bias learnt). Loss: binary cross-entropy with logits; Adagrad at 0.05.
Metrics: loss and accuracy (logit > 0 means "same") on the stage's first 500 pairs and on validation. Each bug is one
line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "shift_rolled_over_batch", "contrastive_label_convention", "normal_mean_not_std",
        "codes_normalised_over_batch")
SIZE, STAMPS, MOTIF, N_TRAIN, N_VAL = 16, 8, 5, 3000, 600


@dataclass
class Pair:
    left: torch.Tensor   # (B, 1, 16, 16)
    right: torch.Tensor  # (B, 1, 16, 16)
    same: torch.Tensor   # (B,) 1.0 when both come from one stamp


def motifs() -> torch.Tensor:
    g = torch.Generator().manual_seed(123)
    out = []
    while len(out) < STAMPS:
        m = (torch.rand(MOTIF, MOTIF, generator=g) < 0.45).float()
        if m.sum() >= 8 and all((m != o).any() for o in out):
            out.append(m)
    return torch.stack(out)


def impression(motif: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    img = torch.zeros(SIZE, SIZE)
    r, c = (int(v) for v in torch.randint(0, SIZE - MOTIF + 1, (2,), generator=g))
    ink = 0.6 + 0.4 * float(torch.rand(1, generator=g))
    kept = motif * (torch.rand(MOTIF, MOTIF, generator=g) > 0.1).float()
    img[r:r + MOTIF, c:c + MOTIF] = ink * kept
    img = img + 0.2 * float(torch.rand(1, generator=g)) + 0.15 * torch.randn(SIZE, SIZE, generator=g)
    return (img - 0.3) / 0.35


def draw(n: int, g: torch.Generator, stamps: torch.Tensor):
    left, right, same = torch.empty(n, 1, SIZE, SIZE), torch.empty(n, 1, SIZE, SIZE), torch.empty(n)
    for i in range(n):
        a = int(torch.randint(0, STAMPS, (1,), generator=g))
        if float(torch.rand(1, generator=g)) < 0.5:
            b = a
        else:
            b = (a + int(torch.randint(1, STAMPS, (1,), generator=g))) % STAMPS
        left[i, 0], right[i, 0], same[i] = impression(stamps[a], g), impression(stamps[b], g), float(a == b)
    return left, right, same


class SiameseCNN(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.tower = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                   nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU())
        self.scale, self.bias = nn.Parameter(torch.tensor(2.0)), nn.Parameter(torch.tensor(1.0))
        if bug == "normal_mean_not_std":
            [nn.init.normal_(m.weight, 0.02) for m in self.tower if isinstance(m, nn.Conv2d)]  # BUG normal_mean_not_std: normal_(w, 0.02) sets the mean to 0.02 (std=0.02 meant): std 1.0

    def code(self, x):  # (B, 1, 16, 16) -> (B, 32), unit length
        h = self.tower(x).amax((2, 3))
        if self.bug == "codes_normalised_over_batch":
            return F.normalize(h, dim=0)  # BUG codes_normalised_over_batch: dim=0 (each feature over the batch), dim=1 (each code) meant
        return F.normalize(h, dim=1)

    def forward(self, left, right):  # -> (B,) logits of "same"
        dist = ((self.code(left) - self.code(right)) ** 2).sum(1)
        return self.bias - F.softplus(self.scale) * dist


def pair_loss(logits, same, bug: str = "none"):
    if bug == "contrastive_label_convention":
        return F.binary_cross_entropy_with_logits(logits, 1 - same)  # BUG contrastive_label_convention: the contrastive-loss convention (1 = dissimilar) carried over, while logit > 0 reads "same"
    return F.binary_cross_entropy_with_logits(logits, same)


class StampsTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "stamps")
        g = torch.Generator().manual_seed(0)
        stamps = motifs()
        self.train, self.val = draw(N_TRAIN, g, stamps), draw(N_VAL, g, stamps)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        left, right, same = (t[:n] for t in self.train)
        model = SiameseCNN(self.bug)
        bug = self.bug
        g = torch.Generator().manual_seed(seed)

        def get_batch(idx):
            a = left[idx]
            if bug == "shift_rolled_over_batch":
                a = torch.roll(a, int(torch.randint(-3, 4, (1,), generator=g)), dims=0)  # BUG shift_rolled_over_batch: the random-shift augmentation rolls along dims=0 (the batch), dims=(2, 3) meant
            return Pair(a, right[idx], same[idx])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (ls, rs, ys) in (("train", (left[:500], right[:500], same[:500])), ("val", self.val)):
                    ls, rs, ys = on_device_of(model, ls), on_device_of(model, rs), on_device_of(model, ys)
                    logits = model(ls, rs)
                    out[f"{split}/loss"] = F.binary_cross_entropy_with_logits(logits, ys).item()
                    out[f"{split}/acc"] = ((logits > 0).float() == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=get_batch,
                       loss=lambda model, b: pair_loss(model(b.left, b.right), b.same, bug), evaluate=evaluate,
                       chance_loss=math.log(2), forward=lambda model, b: model(b.left, b.right),
                       targets=lambda b: b.same)
