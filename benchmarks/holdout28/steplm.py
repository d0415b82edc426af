"""Held-out-28 family 4: a decoder-only Transformer continuing arithmetic sequences mod 20, left-padded, attention
written out with an additive mask.

A sequence starts at a value s (0..19) and steps by d (1, 2 or 3) mod 20 for 6..12 values: `7 10 13 16 19 2`; token
ids 1..20 (value + 1), PAD 0. The model reads the sequence but its last token and predicts the next one at every
position from the second on (the step is known once two values were seen; the first target is ignored, -100). Torch
seed 0: 3000 training and 500 validation sequences, LEFT-padded to the batch's longest. Positions count from each
sequence's first real token (a cumulative sum of the real tokens), so padding does not shift them. Model (d 64, 4 heads
of 16, 2 pre-norm blocks with nn.LayerNorm, feed-forward 256, a final norm): a token embedding N(0, 0.02) and a learnt
position table (nn.Parameter, N(0, 0.02)); attention written out: fused q/k/v, scores / sqrt(16) plus an additive mask
(0 where the key is real and not later than the query, -inf elsewhere; each query may always read itself, so a padding
query has one key), softmax over the keys; a separate output layer. Cross-entropy over the scored positions; Adam at
0.003. Tuple batches (tokens (B, L), targets (B, L)). Metrics: loss and accuracy over the scored positions (train: the
stage's first 400) and val/exact. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "causal_mask_transposed", "mask_multiplied", "pad_mask_missing", "head_init_x30",
        "targets_not_shifted")
PAD, VALUES = 0, 20
VOCAB = VALUES + 1
D, HEADS, LAYERS, FF, MAX_L = 64, 4, 2, 256, 12
IGNORE = -100
N_TRAIN, N_VAL = 3000, 500


def draw(n: int, g: torch.Generator, bug: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    out = []
    for _ in range(n):
        start = int(torch.randint(0, VALUES, (1,), generator=g))
        step = int(torch.randint(1, 4, (1,), generator=g))
        length = int(torch.randint(6, 13, (1,), generator=g))
        ids = torch.tensor([1 + (start + k * step) % VALUES for k in range(length)])
        if bug == "targets_not_shifted":
            targets = ids[:-1].clone()  # BUG targets_not_shifted: the targets sliced like the inputs, not ids[1:]
        else:
            targets = ids[1:].clone()
        targets[0] = IGNORE
        out.append((ids[:-1], targets))
    return out


def collate(seqs: list) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s, _ in seqs)
    x, y = torch.full((len(seqs), width), PAD), torch.full((len(seqs), width), IGNORE)
    for i, (s, t) in enumerate(seqs):
        x[i, width - len(s):], y[i, width - len(t):] = s, t  # left padding
    return x, y


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.norm1, self.norm2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.ff = nn.Sequential(nn.Linear(D, FF), nn.GELU(), nn.Linear(FF, D))

    def forward(self, x, mask):  # (B, L, D), (B, L, L) additive: 0 or -inf
        b, n, _ = x.shape
        q, k, v = (t.view(b, n, HEADS, D // HEADS).transpose(1, 2) for t in self.qkv(self.norm1(x)).chunk(3, -1))
        scores = q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)
        if self.bug == "mask_multiplied":
            scores = scores * mask[:, None]  # BUG mask_multiplied: the additive mask multiplied instead of added
        else:
            scores = scores + mask[:, None]
        x = x + self.proj((scores.softmax(-1) @ v).transpose(1, 2).reshape(b, n, D))
        return x + self.ff(self.norm2(x))


class StepLM(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.tok = nn.Embedding(VOCAB, D)
        nn.init.normal_(self.tok.weight, std=0.02)
        self.pos = nn.Parameter(0.02 * torch.randn(MAX_L, D))
        self.blocks = nn.ModuleList([Block(bug) for _ in range(LAYERS)])
        self.norm = nn.LayerNorm(D)
        self.head = nn.Linear(D, VOCAB)
        if bug == "head_init_x30":
            with torch.no_grad():
                self.head.weight.mul_(30)  # BUG head_init_x30: the output layer scaled 30x ("sharper" logits)

    def forward(self, x):  # (B, L) -> (B, L, VOCAB)
        n = x.shape[1]
        real = x != PAD
        causal = torch.tril(torch.ones(n, n, dtype=torch.bool, device=x.device))
        if self.bug == "causal_mask_transposed":
            causal = torch.triu(torch.ones(n, n, dtype=torch.bool, device=x.device))  # BUG causal_mask_transposed
        itself = torch.eye(n, dtype=torch.bool, device=x.device)[None]
        if self.bug == "pad_mask_missing":
            allowed = causal[None] | itself  # BUG pad_mask_missing: the key padding mask left out (left-padded!)
        else:
            allowed = (causal[None] & real[:, None, :]) | itself
        mask = torch.zeros(allowed.shape, device=x.device).masked_fill(~allowed, float("-inf"))
        positions = (real.long().cumsum(1) - 1).clamp(min=0)
        h = self.tok(x) + self.pos[positions]
        for block in self.blocks:
            h = block(h, mask)
        return self.head(self.norm(h))


class StepLMTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "steplm")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g, self.bug), draw(N_VAL, g, self.bug)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        seqs = self.train[:n]
        model = StepLM(self.bug)
        train_eval, val_eval = collate(seqs[:400]), collate(self.val)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (x, y) in (("train", train_eval), ("val", val_eval)):
                    x, y = on_device_of(model, x), on_device_of(model, y)
                    out.update(sequence_metrics(split, model(x), y, IGNORE))
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: collate([seqs[i] for i in idx.tolist()]),
                       loss=lambda model, b: F.cross_entropy(model(b[0]).flatten(0, 1), b[1].flatten(),
                                                             ignore_index=IGNORE),
                       evaluate=evaluate, chance_loss=math.log(VOCAB),
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
