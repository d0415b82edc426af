"""Held-out-46 family 4: a decoder-only Transformer LM (attention written out under a causal mask) continuing
arithmetic progressions modulo 10, over right-padded plain-tensor batches.

A sequence: BOS, then a0, a0 + k, a0 + 2k, ... (mod 10) for a0 in 0..9 and a step k in 1..9, 5..12 terms. Ids: PAD 0,
BOS 1, the digits 2..11. Torch seed 0 draws 3000 training and 600 validation sequences. A batch is one tensor
(B, L) of ids, right-padded to the batch's longest; the model reads b[:, :-1] and predicts b[:, 1:] (PAD ignored).
Model: token embeddings of 64 plus learnt positions (16); two pre-norm blocks (4 heads of 16, scores / 4, a causal
mask: a query reads itself and the keys before it; GELU feed-forward 128); a final LayerNorm; Linear(64, 12).
Cross-entropy; Adam at 0.001. Metrics: loss over every real target, and accuracy over the predictable targets (the
third term on: the first two fix a0 and k) on the stage's first 500 sequences and on validation. Each bug is one
line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "targets_not_shifted", "causal_mask_hides_self", "scale_multiplied", "head_normal_std1")
PAD, BOS, V, D, HEADS, FF, MAX_POS = 0, 1, 12, 64, 4, 128, 16
MIN_TERMS, MAX_TERMS, N_TRAIN, N_VAL = 5, 12, 3000, 600


def draw(n: int, g: torch.Generator) -> list[list[int]]:
    out = []
    for _ in range(n):
        a0, k = int(torch.randint(0, 10, (1,), generator=g)), int(torch.randint(1, 10, (1,), generator=g))
        terms = int(torch.randint(MIN_TERMS, MAX_TERMS + 1, (1,), generator=g))
        out.append([BOS] + [(a0 + i * k) % 10 + 2 for i in range(terms)])
    return out


def make_batch(seqs: list) -> torch.Tensor:
    b = torch.full((len(seqs), max(len(s) for s in seqs)), PAD)
    for i, s in enumerate(seqs):
        b[i, :len(s)] = torch.tensor(s)
    return b


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.n1, self.n2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.ff = nn.Sequential(nn.Linear(D, FF), nn.GELU(), nn.Linear(FF, D))

    def forward(self, x, blocked):  # (B, L, D); blocked (L, L): True where a query may not read a key
        b, l, _ = x.shape
        q, k, v = (t.view(b, l, HEADS, D // HEADS).transpose(1, 2) for t in self.qkv(self.n1(x)).chunk(3, -1))
        if self.bug == "scale_multiplied":
            s = q @ k.transpose(-1, -2) * math.sqrt(D // HEADS)  # BUG scale_multiplied: * sqrt(d) where / sqrt(d) was meant
        else:
            s = q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)
        w = s.masked_fill(blocked, float("-inf")).softmax(-1)
        x = x + self.proj((w @ v).transpose(1, 2).reshape(b, l, D))
        return x + self.ff(self.n2(x))


class ProgressionLM(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.emb, self.pos = nn.Embedding(V, D), nn.Embedding(MAX_POS, D)
        self.blocks = nn.ModuleList(Block(bug) for _ in range(2))
        self.norm, self.head = nn.LayerNorm(D), nn.Linear(D, V)
        if bug == "head_normal_std1":
            nn.init.normal_(self.head.weight, 0.0, 1.0)  # BUG head_normal_std1: std 1 where ~1/sqrt(64) was meant

    def forward(self, tokens):  # (B, L) -> (B, L, V) logits
        l = tokens.shape[1]
        h = self.emb(tokens) + self.pos(torch.arange(l, device=tokens.device))
        ones = torch.ones(l, l, dtype=torch.bool, device=tokens.device)
        if self.bug == "causal_mask_hides_self":
            blocked = ones.triu(0)  # BUG causal_mask_hides_self: diagonal 0 also blocks the query's own key
        else:
            blocked = ones.triu(1)
        for block in self.blocks:
            h = block(h, blocked)
        return self.head(self.norm(h))


def lm_metrics(split: str, logits: torch.Tensor, targets: torch.Tensor) -> dict:
    real = targets != PAD
    predictable = real.clone()
    predictable[:, :2] = False  # the first two terms are a guess
    right = logits.argmax(-1) == targets
    return {f"{split}/loss": F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=PAD).item(),
            f"{split}/acc": (right & predictable).sum().item() / predictable.sum().item()}


class ProgressionsTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "progressions")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        seqs = self.train[:n]
        model = ProgressionLM(self.bug)
        bug = self.bug
        train_eval, val_eval = make_batch(seqs[:500]), make_batch(self.val)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    b = on_device_of(model, b)
                    out.update(lm_metrics(split, model(b[:, :-1]), b[:, 1:]))
            return out

        def loss(model, b):
            logits = model(b[:, :-1])
            if bug == "targets_not_shifted":
                return F.cross_entropy(logits.flatten(0, 1), b[:, :-1].flatten(), ignore_index=PAD)  # BUG targets_not_shifted: scored against its own input, not the next token
            return F.cross_entropy(logits.flatten(0, 1), b[:, 1:].flatten(), ignore_index=PAD)

        return Problem(model=model, train_size=n,
                       get_batch=lambda idx: make_batch([seqs[i] for i in idx.tolist()]),
                       loss=loss, evaluate=evaluate, chance_loss=math.log(10),
                       forward=lambda model, b: model(b[:, :-1]), targets=lambda b: b[:, 1:])
