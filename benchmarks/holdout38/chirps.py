"""Held-out-38 family 2: a 1-D CNN naming the kind of a short sound (six classes) from 128 noisy samples.

A signal: 128 samples of one of six events, amplitude U(0.6, 1.4), phase U(0, 2π), plus N(0, 0.3²) noise: 0 an
up-chirp (the frequency rising linearly from U(0.03, 0.08) to U(0.18, 0.3) cycles per sample), 1 a down-chirp (falling
from the second to the first), 2 a steady tone (U(0.05, 0.3)), 3 a pluck (a tone whose envelope starts at sample
U(0, 20) and decays as exp(-t / τ), τ ~ U(8, 20)), 4 a swell (the pluck's envelope mirrored in time: rising to sample
128 - U(0, 20)), 5 a click train (2-sample clicks every U(8, 20) samples from a random offset). Standardised with one
scalar mean and std of the training signals. Torch seed 0 draws 3000 training and 600 validation signals. Training
batches are augmented (torch's global generator): a random gain U(0.8, 1.25) and a circular shift by -4..+4 samples,
both label-preserving. Model: Conv1d(1, 16, 9) - ReLU - max-pool 2 - Conv1d(16, 32, 5) - a hand-written BatchNorm1d
(batch statistics over batch and time in training, running statistics with momentum 0.1 in eval, learnt gain and
bias) - ReLU - max-pool 2 - Conv1d(32, 32, 5, dilation 2) - ReLU - mean over time - Linear(32, 6); cross-entropy;
Adam at 0.003.
Tuple batches (signal (B, 1, 128) float, class (B,)). Metrics: loss and accuracy on the stage's first 500 signals and on
validation; extras y_val. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "time_reverse_augment", "bn_running_stats_local", "conv1_bias_negative", "convs_in_plain_list")
T, CLASSES = 128, ("up-chirp", "down-chirp", "tone", "pluck", "swell", "clicks")
N_TRAIN, N_VAL = 3000, 600


def draw(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    def u(lo, hi):
        return lo + (hi - lo) * float(torch.rand(1, generator=g))
    t = torch.arange(T, dtype=torch.float32)
    x, y = torch.empty(n, 1, T), torch.randint(0, len(CLASSES), (n,), generator=g)
    for i in range(n):
        c, amp, phase = int(y[i]), u(0.6, 1.4), u(0, 2 * math.pi)
        if c in (0, 1):
            f0, f1 = u(0.03, 0.08), u(0.18, 0.3)
            if c == 1:
                f0, f1 = f1, f0
            s = torch.sin(phase + 2 * math.pi * (f0 * t + (f1 - f0) * t ** 2 / (2 * T)))
        elif c == 5:
            s, period = torch.zeros(T), int(u(8, 21))
            for k in range(int(u(0, period)), T - 1, period):
                s[k:k + 2] = 1.0
        else:
            s = torch.sin(phase + 2 * math.pi * u(0.05, 0.3) * t)
            if c in (3, 4):
                start, tau = u(0, 20), u(8, 20)
                env = torch.where(t >= start, torch.exp(-(t - start) / tau), torch.zeros(T))
                s = s * (env if c == 3 else env.flip(0))
        x[i, 0] = amp * s + 0.3 * torch.randn(T, generator=g)
    return x, y


class BatchNorm1d(nn.Module):
    def __init__(self, c: int, bug: str, momentum: float = 0.1):
        super().__init__()
        self.bug, self.momentum = bug, momentum
        self.gain, self.bias = nn.Parameter(torch.ones(1, c, 1)), nn.Parameter(torch.zeros(1, c, 1))
        self.register_buffer("running_mean", torch.zeros(1, c, 1))
        self.register_buffer("running_var", torch.ones(1, c, 1))

    def forward(self, h):  # (B, C, T)
        if self.training:
            mu, var = h.mean((0, 2), keepdim=True), h.var((0, 2), keepdim=True, unbiased=False)
            m = self.momentum
            with torch.no_grad():
                if self.bug == "bn_running_stats_local":
                    running_mean, running_var = (1 - m) * self.running_mean + m * mu, (1 - m) * self.running_var + m * var  # BUG bn_running_stats_local  # noqa: E501,F841
                else:
                    self.running_mean, self.running_var = (1 - m) * self.running_mean + m * mu, (1 - m) * self.running_var + m * var  # noqa: E501
        else:
            mu, var = self.running_mean, self.running_var
        return (h - mu) / (var + 1e-5).sqrt() * self.gain + self.bias


class ChirpCNN(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        convs = [nn.Conv1d(1, 16, 9, padding=4), nn.Conv1d(16, 32, 5, padding=2),
                 nn.Conv1d(32, 32, 5, padding=4, dilation=2)]
        if bug == "convs_in_plain_list":
            self.convs = convs  # BUG convs_in_plain_list: a plain list, not nn.ModuleList: unregistered
        else:
            self.convs = nn.ModuleList(convs)
        self.norm = BatchNorm1d(32, bug)
        self.head = nn.Linear(32, len(CLASSES))
        if bug == "conv1_bias_negative":
            nn.init.constant_(convs[0].bias, -5.0)  # BUG conv1_bias_negative: the stem's bias at -5 (sparse units)

    def forward(self, x):  # (B, 1, 128) -> (B, 6)
        h = F.max_pool1d(F.relu(self.convs[0](x)), 2)
        h = F.max_pool1d(F.relu(self.norm(self.convs[1](h))), 2)
        h = F.relu(self.convs[2](h))
        return self.head(h.mean(2))


class ChirpsTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "chirps")
        g = torch.Generator().manual_seed(0)
        x_tr, self.y_train = draw(N_TRAIN, g)
        x_va, self.y_val = draw(N_VAL, g)
        mu, sd = x_tr.mean(), x_tr.std()
        self.x_train, self.x_val = (x_tr - mu) / sd, (x_va - mu) / sd

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = ChirpCNN(self.bug)
        cols = torch.arange(T)

        def get_batch(idx):
            b = len(idx)
            shift = torch.randint(-4, 5, (b, 1, 1))
            gain = torch.empty(b, 1, 1).uniform_(0.8, 1.25)
            xb = x[idx].gather(2, ((cols[None, None] - shift) % T)) * gain
            if self.bug == "time_reverse_augment":
                xb = torch.where(torch.rand(b, 1, 1) < 0.5, xb.flip(2), xb)  # BUG time_reverse_augment: up <-> down
            return xb, y[idx]

        def loss(model, b):
            return F.cross_entropy(model(b[0]), b[1])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:500], y[:500]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    logits = model(xs)
                    out[f"{split}/loss"] = F.cross_entropy(logits, ys).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=get_batch, loss=loss, evaluate=evaluate,
                       chance_loss=math.log(len(CLASSES)), extras={"y_val": self.y_val},
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
