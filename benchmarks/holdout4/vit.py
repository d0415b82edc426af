"""Held-out-4 family 4: a tiny ViT on sklearn's 8x8 digits: 2x2 patches, a CLS token, positional embeddings.

16 patch tokens + CLS, width 32, two pre-norm blocks (a hand-written LayerNorm, nn.MultiheadAttention with
batch_first=True, a GELU MLP), classification from the CLS token. The CLS token and the positional embeddings
start at zero (as in BERT-style code that trains them from there). Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
from sklearn.datasets import load_digits
from torch import nn

from benchmarks.bugsuite.common import check_bug, classifier_problem, subset_size
from orchestrator.task import Problem

BUGS = ("none", "norm_without_eps", "labels_from_the_end", "attention_seq_first", "lr_1e-6")
CLASSES, PATCH, DIM = 10, 2, 32


class HandLayerNorm(nn.Module):
    def __init__(self, dim: int, bug: str, eps: float = 1e-5):
        super().__init__()
        self.gain, self.bias = nn.Parameter(torch.ones(dim)), nn.Parameter(torch.zeros(dim))
        self.eps, self.bug = eps, bug

    def forward(self, x):
        mu, var = x.mean(-1, keepdim=True), x.var(-1, unbiased=False, keepdim=True)
        if self.bug == "norm_without_eps":
            return self.gain * (x - mu) / torch.sqrt(var) + self.bias  # BUG norm_without_eps: no eps in the sqrt
        return self.gain * (x - mu) / torch.sqrt(var + self.eps) + self.bias


class Block(nn.Module):
    def __init__(self, bug: str, heads: int = 4):
        super().__init__()
        self.norm1, self.norm2 = HandLayerNorm(DIM, bug), HandLayerNorm(DIM, bug)
        self.attn = nn.MultiheadAttention(DIM, heads, batch_first=True)
        if bug == "attention_seq_first":
            self.attn = nn.MultiheadAttention(DIM, heads)  # BUG attention_seq_first: batch_first forgotten
        self.mlp = nn.Sequential(nn.Linear(DIM, 2 * DIM), nn.GELU(), nn.Linear(2 * DIM, DIM))

    def forward(self, x):
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class TinyViT(nn.Module):
    def __init__(self, bug: str, depth: int = 2):
        super().__init__()
        tokens = (8 // PATCH) ** 2
        self.patch = nn.Linear(PATCH * PATCH, DIM)
        self.cls = nn.Parameter(torch.zeros(1, 1, DIM))
        self.pos = nn.Parameter(torch.zeros(1, tokens + 1, DIM))
        self.blocks = nn.Sequential(*(Block(bug) for _ in range(depth)))
        self.norm = HandLayerNorm(DIM, bug)
        self.head = nn.Linear(DIM, CLASSES)

    def forward(self, x):  # x: (B, 1, 8, 8)
        p = x.unfold(2, PATCH, PATCH).unfold(3, PATCH, PATCH).reshape(len(x), -1, PATCH * PATCH)  # (B, 16, 4)
        t = torch.cat([self.cls.expand(len(x), -1, -1), self.patch(p)], 1) + self.pos
        return self.head(self.norm(self.blocks(t))[:, 0])


class ViTTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none", n_train: int = 1400):
        self.bug = check_bug(bug, BUGS, "vit")
        d = load_digits()
        order = torch.randperm(len(d.target), generator=torch.Generator().manual_seed(0))
        x = (torch.tensor(d.images, dtype=torch.float32)[:, None] / 16.0)[order]
        y = torch.tensor(d.target)[order]
        self.x_train, self.y_train = x[:n_train], y[:n_train]
        self.x_val, self.y_val = x[n_train:], y[n_train:]
        if bug == "labels_from_the_end":
            self.y_train = y[-n_train:]  # BUG labels_from_the_end: y[-n:] for y[:n], misaligned with x[:n]

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.x_train))
        return classifier_problem(TinyViT(self.bug), self.x_train[:n], self.y_train[:n], self.x_val, self.y_val,
                                  CLASSES)
