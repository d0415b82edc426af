"""Held-out-35 family 4: a causal Transformer tagging each building of a skyline, read left to right, with the
tallest height seen so far (the running maximum), over left-padded batches.

A skyline: 4..16 heights of 1..9 (uniform); the target at position t is max(h_0..h_t) - 1 (classes 0..8). Ids: PAD
0, heights 1..9; batches are left-padded (the padding before the skyline). Torch seed 0 draws 3000 training and 500
validation skylines. Model: d 64, 4 heads, 2 pre-norm blocks with a hand-written LayerNorm (over the features, a
learnt gain and bias), attention written out (separate bias-free Linear layers to q, k and v; scores / sqrt(16); a
query at a real position may see the real positions up to its own (causal and key-padding masks, -inf); a padding
query sees the positions up to its own, so that no row is empty; softmax over the keys), feed-forward 128 with ReLU,
learnt positions counted from the first real height; a final LayerNorm and Linear(64, 9). Cross-entropy over the
real positions (padding targets -100, ignored); Adam at 0.001. Tuple batches (heights (B, L), targets (B, L)).
Metrics: token loss and accuracy over real positions (train: the stage's first 1000 skylines) and val/exact. Each
bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "pad_mask_dropped", "causal_excludes_self", "layernorm_over_time", "qk_zero_init")
PAD, HEIGHTS, IGNORE = 0, 9, -100
D, HEADS, LAYERS, FF, MAX_L = 64, 4, 2, 128, 16
N_TRAIN, N_VAL = 3000, 500


def draw(n: int, g: torch.Generator) -> list[list[int]]:
    return [torch.randint(1, HEIGHTS + 1, (int(torch.randint(4, MAX_L + 1, (1,), generator=g)),), generator=g).tolist()
            for _ in range(n)]


def collate(seqs: list) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in seqs)
    tok, tgt = torch.full((len(seqs), width), PAD), torch.full((len(seqs), width), IGNORE)
    for i, s in enumerate(seqs):
        tok[i, width - len(s):] = torch.tensor(s)
        tgt[i, width - len(s):] = torch.tensor(s).cummax(0).values - 1
    return tok, tgt


class LayerNorm(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.gain, self.bias = nn.Parameter(torch.ones(D)), nn.Parameter(torch.zeros(D))

    def forward(self, x):  # (B, L, D)
        if self.bug == "layernorm_over_time":
            dim = 1  # BUG layernorm_over_time: statistics over the positions, not the features
        else:
            dim = -1
        mu, var = x.mean(dim, keepdim=True), x.var(dim, keepdim=True, unbiased=False)
        return (x - mu) / (var + 1e-5).sqrt() * self.gain + self.bias


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.norm1, self.norm2 = LayerNorm(bug), LayerNorm(bug)
        self.q, self.k, self.v = (nn.Linear(D, D, bias=False) for _ in range(3))
        self.proj = nn.Linear(D, D)
        self.ff1, self.ff2 = nn.Linear(D, FF), nn.Linear(FF, D)
        if bug == "qk_zero_init":
            for lin in (self.q, self.k): nn.init.zeros_(lin.weight)  # BUG qk_zero_init: queries and keys all zero  # noqa: E701

    def forward(self, x, allowed):  # (B, L, D), (B, L, L) True where query i may see key j
        b, w, _ = x.shape
        h = self.norm1(x)
        q, k, v = (lin(h).view(b, w, HEADS, D // HEADS).transpose(1, 2) for lin in (self.q, self.k, self.v))
        scores = (q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)).masked_fill(~allowed[:, None], float("-inf"))
        x = x + self.proj((scores.softmax(-1) @ v).transpose(1, 2).reshape(b, w, D))
        return x + self.ff2(F.relu(self.ff1(self.norm2(x))))


class Skyline(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.tok, self.pos = nn.Embedding(HEIGHTS + 1, D, padding_idx=PAD), nn.Embedding(MAX_L, D)
        self.blocks = nn.ModuleList(Block(bug) for _ in range(LAYERS))
        self.norm, self.head = LayerNorm(bug), nn.Linear(D, HEIGHTS)

    def forward(self, tok):  # (B, L) -> (B, L, HEIGHTS)
        w = tok.shape[1]
        real = tok != PAD
        ones = torch.ones(w, w, dtype=torch.bool, device=tok.device)
        if self.bug == "causal_excludes_self":
            causal = ones.tril(-1)  # BUG causal_excludes_self: below the diagonal only, no query sees itself
        else:
            causal = ones.tril()
        if self.bug == "pad_mask_dropped":
            allowed = causal.expand(len(tok), w, w)  # BUG pad_mask_dropped: real queries see the padding keys
        else:
            allowed = causal & (real[:, None, :] | ~real[:, :, None])
        pos = (real.long().cumsum(1) - 1).clamp(min=0)
        x = self.tok(tok) + self.pos(pos)
        for block in self.blocks:
            x = block(x, allowed)
        return self.head(self.norm(x))


class SkylineTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "skyline")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        seqs = self.train[:n]
        model = Skyline(self.bug)
        train_eval, val_eval = collate(seqs[:1000]), collate(self.val)

        def loss(model, b):
            return F.cross_entropy(model(b[0]).flatten(0, 1), b[1].flatten(), ignore_index=IGNORE)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (tok, tgt) in (("train", train_eval), ("val", val_eval)):
                    tok, tgt = on_device_of(model, tok), on_device_of(model, tgt)
                    out.update(sequence_metrics(split, model(tok), tgt, IGNORE))
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: collate([seqs[i] for i in idx.tolist()]),
                       loss=loss, evaluate=evaluate, chance_loss=math.log(HEIGHTS),
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
