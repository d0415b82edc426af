"""Held-out-22 family 1: a Perceiver-style set regressor (8 learned latents cross-attend to a padded point set).

Each set is 3..12 points uniform in [-1, 1]^2 (torch seed 0; 3000 training, 400 validation), right-padded with 0 to
the batch's widest set; the target is the set's spread (the mean squared distance of its points from their centroid, half the
mean squared pairwise distance), standardised with the training sets' mean
and std. Tuple batches (points (B, N, 2), lengths (B,), y (B, 1)). Model (d 64): an MLP 2 -> 64 - GELU -> 64 per point; 8 learned
latents (B, 8, 64) cross-attend to the points (hand-written single-head attention, a key padding mask from the
lengths, masked_fill -inf before the softmax), one pre-LN self-attention block and GELU MLP over the latents, mean
over the latents, MLP head to 1. Loss: MSE. Adam at 0.003. Metrics: MSE (train on the first 400, val). Each bug is
one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "pad_filled_zero", "latents_same_init", "squared_mean_error", "targets_of_previous_set")
D, LATENTS, MIN_N, MAX_N = 64, 8, 3, 12
N_TRAIN, N_VAL = 3000, 400


def draw(n: int, g: torch.Generator) -> list[torch.Tensor]:
    return [torch.rand(int(torch.randint(MIN_N, MAX_N + 1, (1,), generator=g)), 2, generator=g) * 2 - 1
            for _ in range(n)]


def spread(p: torch.Tensor) -> float:
    return float(((p - p.mean(0)) ** 2).sum(1).mean())


def collate(sets: list[torch.Tensor], y: torch.Tensor):
    width = max(len(s) for s in sets)
    x = torch.zeros(len(sets), width, 2)
    for i, s in enumerate(sets):
        x[i, :len(s)] = s
    return x, torch.tensor([len(s) for s in sets]), y[:, None]


class Perceiver(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.embed = nn.Sequential(nn.Linear(2, D), nn.GELU(), nn.Linear(D, D))
        self.latents = nn.Parameter(torch.randn(LATENTS, D) * 0.5)
        if bug == "latents_same_init":
            self.latents = nn.Parameter(torch.randn(1, D).repeat(LATENTS, 1) * 0.5)  # noqa: E501  BUG latents_same_init: one latent drawn and repeated 8 times
        self.q, self.k, self.v, self.o = (nn.Linear(D, D) for _ in range(4))
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(D), nn.LayerNorm(D), nn.LayerNorm(D)
        self.qkv = nn.Linear(D, 3 * D)
        self.proj = nn.Linear(D, D)
        self.mlp = nn.Sequential(nn.Linear(D, 2 * D), nn.GELU(), nn.Linear(2 * D, D))
        self.head = nn.Sequential(nn.Linear(D, D), nn.GELU(), nn.Linear(D, 1))

    def forward(self, x, lengths):  # (B, N, 2), (B,) -> (B, 1)
        b, n, _ = x.shape
        e = self.embed(x)
        lat = self.latents.expand(b, -1, -1)
        scores = self.q(self.norm1(lat)) @ self.k(e).transpose(1, 2) / math.sqrt(D)   # (B, 8, N)
        pad = torch.arange(n, device=x.device)[None, :] >= lengths[:, None]              # (B, N)
        if self.bug == "pad_filled_zero":
            scores = scores.masked_fill(pad[:, None, :], 0.0)  # BUG pad_filled_zero: padding scores 0 (weight e^0), not -inf
        else:
            scores = scores.masked_fill(pad[:, None, :], float("-inf"))
        lat = lat + self.o(scores.softmax(-1) @ self.v(e))
        q, k, v = self.qkv(self.norm2(lat)).chunk(3, -1)
        lat = lat + self.proj((q @ k.transpose(1, 2) / math.sqrt(D)).softmax(-1) @ v)
        lat = lat + self.mlp(self.norm3(lat))
        return self.head(lat.mean(1))


class PerceiverTask:
    metrics = ("train/loss", "val/loss")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "perceiver")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)
        yt = torch.tensor([spread(s) for s in self.train])
        yv = torch.tensor([spread(s) for s in self.val])
        mu, sd = yt.mean(), yt.std()
        self.y_train, self.y_val = (yt - mu) / sd, (yv - mu) / sd
        if self.bug == "targets_of_previous_set":
            self.y_train, self.y_val = self.y_train.roll(1), self.y_val.roll(1)  # noqa: E501  BUG targets_of_previous_set: each set paired with the statistic of the set before it

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        sets, ys = self.train[:n], self.y_train[:n]
        model = Perceiver(self.bug)
        train_eval, val_eval = collate(sets[:400], ys[:400]), collate(self.val, self.y_val)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (x, ln, y) in (("train", train_eval), ("val", val_eval)):
                    out[f"{split}/loss"] = F.mse_loss(model(x, ln), y).item()
            return out

        def loss(model, b):
            pred = model(b[0], b[1])
            if self.bug == "squared_mean_error":
                return ((pred - b[2]).mean()) ** 2  # BUG squared_mean_error: the mean error squared, not the mean squared error
            return F.mse_loss(pred, b[2])

        return Problem(model=model, train_size=n,
                       get_batch=lambda idx: collate([sets[i] for i in idx.tolist()], ys[idx]),
                       loss=loss, evaluate=evaluate, chance_loss=float(self.y_train.var()),
                       forward=lambda model, b: model(b[0], b[1]), targets=lambda b: b[2])
