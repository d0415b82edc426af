"""A user's classifier with a NaN bug chosen by a task argument (tests/conf/task/nan.yaml).

`bug`:
- `none`: a clean MLP on separable blobs;
- `sqrt_act`: a hand-written activation sqrt(x) on pre-activations: NaN in the activations at the
  very first forward, before any update;
- `later`: the activations turn NaN from training forward `at` on (a later health sample sees them);
- `weights`: from training forward `at` on, the forward writes a NaN into a weight (what a bad in-place
  update does), so the weights and the final histograms hold NaN;
- `raises`: from training forward `at` on, the forward raises (a shape mismatch, as a batch of an odd size
  meets a hard-coded reshape).
"""
from __future__ import annotations


import torch
from torch import nn

from stages.classification import tensor_problem


class BuggyNet(nn.Module):
    def __init__(self, bug: str, at: int):
        super().__init__()
        self.l1, self.l2 = nn.Linear(8, 32), nn.Linear(32, 3)
        self.bug, self.at, self.calls = bug, at, 0

    def forward(self, x):
        if self.training:
            self.calls += 1
        h = self.l1(x)
        if self.bug == "sqrt_act":
            h = torch.sqrt(h)            # NaN for every negative pre-activation
        else:
            h = torch.relu(h)
        if self.bug == "later" and self.calls > self.at:
            h = h * float("nan")
        if self.bug == "raises" and self.calls > self.at:
            h = h.view(-1, 7)  # the user's bug: 32 features do not split into rows of 7
        if self.bug == "weights" and self.calls > self.at:
            with torch.no_grad():
                self.l1.weight[0, 0] = float("nan")
        return self.l2(h)


class NanTask:
    metrics = ("train/acc", "val/acc", "val/loss")

    def __init__(self, bug: str = "none", at: int = 0, n: int = 48):
        g = torch.Generator().manual_seed(0)
        centres = torch.randn(3, 8, generator=g) * 2
        y = torch.arange(2 * n) % 3
        x = centres[y] + 0.5 * torch.randn(2 * n, 8, generator=g)
        self.x, self.y, self.xv, self.yv = x[:n], y[:n], x[n:], y[n:]
        self.bug, self.at = bug, at

    def build(self, knobs, seed):
        return tensor_problem(BuggyNet(self.bug, self.at), self.x, self.y, self.xv, self.yv, classes=3)
