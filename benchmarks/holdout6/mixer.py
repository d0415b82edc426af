"""Held-out-6 family 2: an MLP-Mixer on sklearn's 8x8 digits cut into 2x2 patches, tuple batches.

16 patches of 4 pixels, a bias-free linear patch embedding to 32 channels (a blank patch embeds to exactly 0),
two Mixer blocks (a hand-written LayerNorm; token mixing: transpose, an MLP over the 16 tokens, transpose back;
channel mixing: an MLP over the channels; GELU; residual connections), a final LayerNorm, a mean over the tokens
and a linear head. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
from sklearn.datasets import load_digits
from torch import nn

from benchmarks.bugsuite.common import check_bug, classifier_problem, subset_size
from orchestrator.task import Problem

BUGS = ("none", "labels_shifted_by_one", "layernorm_no_eps", "blocks_in_list")
CLASSES, PATCH, TOKENS, DIM = 10, 2, 16, 32


class LayerNorm(nn.Module):
    def __init__(self, d: int, bug: str, eps: float = 1e-5):
        super().__init__()
        self.gain, self.bias, self.eps, self.bug = nn.Parameter(torch.ones(d)), nn.Parameter(torch.zeros(d)), eps, bug

    def forward(self, x):
        centred = x - x.mean(-1, keepdim=True)
        std = (centred.pow(2).mean(-1, keepdim=True) + self.eps).sqrt()
        if self.bug == "layernorm_no_eps":
            std = centred.pow(2).mean(-1, keepdim=True).sqrt()  # BUG layernorm_no_eps: sqrt(0) on a blank token
        return centred / std * self.gain + self.bias


def mlp(d: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, d))


class MixerBlock(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.norm1, self.norm2 = LayerNorm(DIM, bug), LayerNorm(DIM, bug)
        self.token_mlp, self.channel_mlp = mlp(TOKENS, 2 * TOKENS), mlp(DIM, 2 * DIM)

    def forward(self, x):  # (B, TOKENS, DIM)
        x = x + self.token_mlp(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        return x + self.channel_mlp(self.norm2(x))


class Mixer(nn.Module):
    def __init__(self, bug: str, depth: int = 2):
        super().__init__()
        self.embed = nn.Linear(PATCH * PATCH, DIM, bias=False)
        blocks = [MixerBlock(bug) for _ in range(depth)]
        if bug == "blocks_in_list":
            self.blocks = blocks  # BUG blocks_in_list: a plain list, not nn.ModuleList: unregistered
        else:
            self.blocks = nn.ModuleList(blocks)
        self.norm = LayerNorm(DIM, bug)
        self.head = nn.Linear(DIM, CLASSES)

    def forward(self, x):  # (B, 1, 8, 8)
        b = x.shape[0]
        patches = x.reshape(b, 8 // PATCH, PATCH, 8 // PATCH, PATCH).permute(0, 1, 3, 2, 4).reshape(b, TOKENS, -1)
        h = self.embed(patches)
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm(h).mean(1))


class MixerTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none", n_train: int = 1400):
        self.bug = check_bug(bug, BUGS, "mixer")
        d = load_digits()
        x = torch.tensor(d.images, dtype=torch.float32)[:, None] / 16.0
        y = torch.tensor(d.target)
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
        x, y = x[order], y[order]
        self.x_train, self.y_train = x[:n_train], y[:n_train]
        if bug == "labels_shifted_by_one":
            self.y_train = y[1:n_train + 1]  # BUG labels_shifted_by_one: the slice starts one example late
        self.x_val, self.y_val = x[n_train:], y[n_train:]

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.x_train))
        return classifier_problem(Mixer(self.bug), self.x_train[:n], self.y_train[:n], self.x_val, self.y_val,
                                  CLASSES)
