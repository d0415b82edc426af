"""Held-out-30 family 4: a causal Transformer language model (attention written out) continuing Fibonacci sequences
modulo 10.

A sequence starts with two random digits and continues x[t] = (x[t-1] + x[t-2]) mod 10, 5..16 digits long. Token
ids: PAD 0, digits 1..10. Torch seed 0: 3000 training and 500 validation sequences, RIGHT-padded to the batch's
longest. Inputs are tokens[:-1], targets tokens[1:], with the first target (the second random digit) set to PAD, so
every target scored follows from the two before it. Model (d 64, 4 heads, 2 pre-norm blocks, a hand-written
LayerNorm over the features, feed-forward 128, learnt positions): each block's attention is written out: one Linear
to q, k, v, scores / sqrt(16), a causal mask (triu, diagonal 1) and the key padding mask set to -inf, softmax over
the keys, a Linear out; a final norm and a linear layer to the 11 ids. Cross-entropy over the scored targets
(ignore_index PAD); Adam at 0.003. Tuple batches (inputs (B, L), targets (B, L)). Metrics: loss and accuracy over
the scored positions (train: the stage's first 400) and val/exact. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "causal_mask_transposed", "norm_over_time", "targets_time_major", "pos_std30")
PAD, DIGITS = 0, 10
D, HEADS, LAYERS, FF, MAX_L = 64, 4, 2, 128, 16
N_TRAIN, N_VAL = 3000, 500


def draw(n: int, g: torch.Generator) -> list[torch.Tensor]:
    out = []
    for _ in range(n):
        length = int(torch.randint(5, MAX_L + 1, (1,), generator=g))
        seq = torch.randint(0, DIGITS, (2,), generator=g).tolist()
        while len(seq) < length:
            seq.append((seq[-1] + seq[-2]) % DIGITS)
        out.append(torch.tensor(seq) + 1)
    return out


def collate(seqs: list) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in seqs) - 1
    x, y = torch.full((len(seqs), width), PAD), torch.full((len(seqs), width), PAD)
    for i, s in enumerate(seqs):
        x[i, :len(s) - 1], y[i, 1:len(s) - 1] = s[:-1], s[2:]  # right padding; the first target unscored
    return x, y


class Norm(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.gain, self.shift = nn.Parameter(torch.ones(D)), nn.Parameter(torch.zeros(D))

    def forward(self, x):  # (B, L, D)
        dim = 1 if self.bug == "norm_over_time" else -1  # BUG norm_over_time: statistics over the positions
        mu, var = x.mean(dim, keepdim=True), x.var(dim, keepdim=True, unbiased=False)
        return (x - mu) / torch.sqrt(var + 1e-5) * self.gain + self.shift


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.norm1, self.norm2 = Norm(bug), Norm(bug)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.ff1, self.ff2 = nn.Linear(D, FF), nn.Linear(FF, D)

    def forward(self, x, pad):  # (B, L, D), (B, L) True at padding
        B, L, _ = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(B, L, 3, HEADS, D // HEADS).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)                      # (B, heads, L, L)
        if self.bug == "causal_mask_transposed":
            future = torch.ones(L, L, dtype=torch.bool, device=x.device).tril(-1)  # BUG causal_mask_transposed
        else:
            future = torch.ones(L, L, dtype=torch.bool, device=x.device).triu(1)
        scores = scores.masked_fill(future | pad[:, None, None, :], float("-inf"))
        att = (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, L, D)
        x = x + self.proj(att)
        return x + self.ff2(F.relu(self.ff1(self.norm2(x))))


class FibLM(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.tok = nn.Embedding(DIGITS + 1, D, padding_idx=PAD)
        self.pos = nn.Embedding(MAX_L, D)
        if bug == "pos_std30":
            nn.init.normal_(self.pos.weight, std=30.0)  # BUG pos_std30: the position table drawn with std 30
        self.blocks = nn.ModuleList([Block(bug) for _ in range(LAYERS)])
        self.norm = Norm(bug)
        self.head = nn.Linear(D, DIGITS + 1)

    def forward(self, x):  # (B, L) -> (B, L, 11)
        pad = x == PAD
        h = self.tok(x) + self.pos(torch.arange(x.shape[1], device=x.device))[None]
        for block in self.blocks:
            h = block(h, pad)
        return self.head(self.norm(h))


class FibLMTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "fiblm")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        seqs = self.train[:n]
        model = FibLM(self.bug)
        train_eval, val_eval = collate(seqs[:400]), collate(self.val)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (x, y) in (("train", train_eval), ("val", val_eval)):
                    x, y = on_device_of(model, x), on_device_of(model, y)
                    out.update(sequence_metrics(split, model(x), y, PAD))
            return out

        def loss(model, b):
            if self.bug == "targets_time_major":
                return F.cross_entropy(model(b[0]).flatten(0, 1), b[1].t().flatten(), ignore_index=PAD)  # BUG
            return F.cross_entropy(model(b[0]).flatten(0, 1), b[1].flatten(), ignore_index=PAD)

        return Problem(model=model, train_size=n, get_batch=lambda idx: collate([seqs[i] for i in idx.tolist()]),
                       loss=loss, evaluate=evaluate, chance_loss=math.log(DIGITS), best_loss=0.0,
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
