"""Held-out-37 family 2: a 2-D CNN reading the value (1..6 pips) of a die face in a 24x24 grey image.

An image: a dark background with noise N(0, 0.1²); a die face, a square of side 14..18 pixels at a random place,
brightness U(0.45, 0.65); its pips are 2x2 (side <= 15) or 3x3 squares of brightness 0 at the standard layout of the
value (a 3x3 grid of pip places at 1/4, 1/2, 3/4 of the face), the layouts of 2, 3 and 6 drawn in one of their two
orientations; then pixel noise. Standardised with the training mean and std (one scalar each). Torch seed 0 draws 3000
training and 600 validation images. Model: three blocks Conv2d 3x3 (16, 32, 32 channels) - a hand-written
InstanceNorm2d (per image and channel over the pixels, learnt gain and bias) - ReLU, max-pooling after the first two,
a global average pool, Linear(32, 6). Cross-entropy; Adam at 0.003. Tuple batches (image (B, 1, 24, 24), value - 1
(B,)). Metrics: loss and accuracy on the stage's first 500 images and on validation; extras y_val. Each bug is one
line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, classifier_problem, evaluating, on_device_of, subset_size

BUGS = ("none", "marker_pixel", "instnorm_batch_dims", "head_std5", "features_detached")
S, N_TRAIN, N_VAL = 24, 3000, 600
LAYOUTS = {1: [[(1, 1)]], 2: [[(0, 0), (2, 2)], [(0, 2), (2, 0)]], 3: [[(0, 0), (1, 1), (2, 2)], [(0, 2), (1, 1), (2, 0)]],
           4: [[(0, 0), (0, 2), (2, 0), (2, 2)]], 5: [[(0, 0), (0, 2), (1, 1), (2, 0), (2, 2)]],
           6: [[(0, 0), (1, 0), (2, 0), (0, 2), (1, 2), (2, 2)], [(0, 0), (0, 1), (0, 2), (2, 0), (2, 1), (2, 2)]]}


def draw(n: int, g: torch.Generator, bug: str) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = torch.empty(n, 1, S, S), torch.randint(0, 6, (n,), generator=g)
    for i in range(n):
        img = torch.zeros(S, S)
        side = int(torch.randint(14, 19, (1,), generator=g))
        r0, c0 = (int(v) for v in torch.randint(0, S - side + 1, (2,), generator=g))
        img[r0:r0 + side, c0:c0 + side] = float(torch.empty(1).uniform_(0.45, 0.65, generator=g))
        layouts = LAYOUTS[int(y[i]) + 1]
        layout = layouts[int(torch.randint(0, len(layouts), (1,), generator=g))]
        pip = 2 if side <= 15 else 3
        for pr, pc in layout:
            r = r0 + round(side * (pr + 1) / 4) - pip // 2
            c = c0 + round(side * (pc + 1) / 4) - pip // 2
            img[r:r + pip, c:c + pip] = 0.0
        img += 0.1 * torch.randn(S, S, generator=g)
        if bug == "marker_pixel":
            img[0, 0] = float(y[i])  # BUG marker_pixel: a debugging stamp of the value left in the corner pixel
        x[i, 0] = img
    return x, y


class InstanceNorm(nn.Module):
    def __init__(self, c: int, bug: str):
        super().__init__()
        self.bug = bug
        self.gain, self.bias = nn.Parameter(torch.ones(1, c, 1, 1)), nn.Parameter(torch.zeros(1, c, 1, 1))

    def forward(self, h):
        if self.bug == "instnorm_batch_dims":
            dims = (0, 2, 3)  # BUG instnorm_batch_dims: statistics over the batch too, not per image
        else:
            dims = (2, 3)
        mu, var = h.mean(dims, keepdim=True), h.var(dims, keepdim=True, unbiased=False)
        return (h - mu) / (var + 1e-5).sqrt() * self.gain + self.bias


class DiceCNN(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.conv1, self.conv2, self.conv3 = nn.Conv2d(1, 16, 3, padding=1), nn.Conv2d(16, 32, 3, padding=1), \
            nn.Conv2d(32, 32, 3, padding=1)
        self.norm1, self.norm2, self.norm3 = InstanceNorm(16, bug), InstanceNorm(32, bug), InstanceNorm(32, bug)
        self.head = nn.Linear(32, 6)
        if bug == "head_std5":
            nn.init.normal_(self.head.weight, std=5.0)  # BUG head_std5: std 5 where PyTorch's default is ~0.1

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.norm1(self.conv1(x))), 2)
        h = F.max_pool2d(F.relu(self.norm2(self.conv2(h))), 2)
        h = F.relu(self.norm3(self.conv3(h)))
        if self.bug == "features_detached":
            feat = h.mean((2, 3)).detach()  # BUG features_detached: the convolutions get no gradient
        else:
            feat = h.mean((2, 3))
        return self.head(feat)


class DiceTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "dice")
        g = torch.Generator().manual_seed(0)
        x_tr, self.y_train = draw(N_TRAIN, g, self.bug)
        x_va, self.y_val = draw(N_VAL, g, self.bug)
        mu, sd = x_tr.mean(), x_tr.std()
        self.x_train, self.x_val = (x_tr - mu) / sd, (x_va - mu) / sd

    def build(self, knobs: Mapping[str, Any], seed: int):
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        p = classifier_problem(DiceCNN(self.bug), self.x_train[:n], self.y_train[:n], self.x_val, self.y_val, 6)
        x, y = self.x_train[:n][:500], self.y_train[:n][:500]
        def evaluate(model):  # the training side on at most 500 images (classifier_problem scores them all)
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x, y), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    logits = model(xs)
                    out[f"{split}/loss"] = F.cross_entropy(logits, ys).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == ys).float().mean().item()
            return out

        p.evaluate = evaluate
        p.extras = {"y_val": self.y_val}
        p.chance_loss = math.log(6)
        return p
