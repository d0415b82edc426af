"""Held-out-27 family 4: a decoder-only Transformer continuing a repeating motif, attention written out by hand.

A sequence repeats a motif of 2 or 3 distinct tokens of 20 (ids 1..20, PAD 0) to a length of 7..12: `a b c a b c a`.
The model reads the sequence but its last token and predicts the next token at every position from the one where the
motif has come back (position p for a period p; the earlier targets are ignored, -100): an induction task, which needs
the order of the tokens, not only which ones came before. Torch seed 0: 3000 training and
500 validation sequences, right-padded to the batch's longest. Model (d 64, 4 heads of 16, 2 pre-norm blocks with
nn.LayerNorm, feed-forward 256, a final norm): a token embedding N(0, 0.02) and a learnt position table (an
nn.Parameter, N(0, 0.02)); attention written out: fused q/k/v, scores / sqrt(16), masked_fill(-inf) where the key is
later than the query or is padding, softmax over the keys, heads merged; a separate output layer. Cross-entropy over
the scored positions; Adam at 0.003. Tuple batches (tokens (B, L), targets (B, L)). Metrics: loss and accuracy over
the scored positions (train: the stage's first 400), val/exact (every scored position of a sequence right). Each bug
is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "causal_mask_missing", "softmax_over_heads", "positions_not_parameter", "qkv_zero_init")
PAD, TOKENS = 0, 20
VOCAB = TOKENS + 1
D, HEADS, LAYERS, FF, MAX_L = 64, 4, 2, 256, 12
IGNORE = -100
N_TRAIN, N_VAL = 3000, 500


def draw(n: int, g: torch.Generator) -> list[tuple[torch.Tensor, torch.Tensor]]:
    out = []
    for _ in range(n):
        period = int(torch.randint(2, 4, (1,), generator=g))
        motif = (1 + torch.randperm(TOKENS, generator=g)[:period]).tolist()
        length = int(torch.randint(7, 13, (1,), generator=g))
        ids = torch.tensor([motif[t % period] for t in range(length)])
        targets = ids[1:].clone()
        targets[:period] = IGNORE  # the period is known once the motif has come back
        out.append((ids[:-1], targets))
    return out


def collate(seqs: list) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s, _ in seqs)
    x, y = torch.full((len(seqs), width), PAD), torch.full((len(seqs), width), IGNORE)
    for i, (s, t) in enumerate(seqs):
        x[i, :len(s)], y[i, :len(t)] = s, t
    return x, y


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.norm1, self.norm2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        if bug == "qkv_zero_init":
            for p in self.qkv.parameters():
                nn.init.zeros_(p)  # BUG qkv_zero_init: the fused q/k/v projection (weight and bias) zero-initialised
        self.ff = nn.Sequential(nn.Linear(D, FF), nn.GELU(), nn.Linear(FF, D))

    def forward(self, x, allowed):  # (B, L, D), (B, L, L) bool: query i may read key j
        b, n, _ = x.shape
        q, k, v = (t.view(b, n, HEADS, D // HEADS).transpose(1, 2) for t in self.qkv(self.norm1(x)).chunk(3, -1))
        scores = (q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)).masked_fill(~allowed[:, None], float("-inf"))
        if self.bug == "softmax_over_heads":
            weights = scores.softmax(1)  # BUG softmax_over_heads: softmax(1) (the heads) typed for softmax(-1)
        else:
            weights = scores.softmax(-1)
        x = x + self.proj((weights @ v).transpose(1, 2).reshape(b, n, D))
        return x + self.ff(self.norm2(x))


class MotifLM(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.tok = nn.Embedding(VOCAB, D)
        nn.init.normal_(self.tok.weight, std=0.02)
        if bug == "positions_not_parameter":
            self.pos = (0.02 * torch.randn(MAX_L, D)).requires_grad_()  # BUG positions_not_parameter: no nn.Parameter
        else:
            self.pos = nn.Parameter(0.02 * torch.randn(MAX_L, D))
        self.blocks = nn.ModuleList([Block(bug) for _ in range(LAYERS)])
        self.norm = nn.LayerNorm(D)
        self.head = nn.Linear(D, VOCAB)

    def forward(self, x):  # (B, L) -> (B, L, VOCAB)
        n = x.shape[1]
        causal = torch.tril(torch.ones(n, n, dtype=torch.bool, device=x.device))
        real = (x != PAD)[:, None, :]
        if self.bug == "causal_mask_missing":
            allowed = real.expand(-1, n, -1)  # BUG causal_mask_missing: only the padding mask, `& causal` left out
        else:
            allowed = causal[None] & real
        h = self.tok(x) + self.pos[:n].to(x.device)[None]
        for block in self.blocks:
            h = block(h, allowed)
        return self.head(self.norm(h))


class MotifTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "motif")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        seqs = self.train[:n]
        model = MotifLM(self.bug)
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
