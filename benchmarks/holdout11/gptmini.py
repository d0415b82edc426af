"""Held-out-11 family 1: a decoder-only Transformer LM (GPT-style) on a generated sorting task.

Each example is 6 random digits, a separator, then the same digits sorted: 13 tokens. The model reads tokens
0..11 and predicts tokens 1..12 (the usual one-step shift); only the 6 answer tokens count in the loss (the other
targets are IGNORE, cross_entropy's ignore_index). Model: token embedding (std 0.02, GPT-2's) + learned absolute
positions, 2 pre-LayerNorm blocks with hand-written causal 4-head self-attention (d 64) and a GELU MLP (128), a final
LayerNorm and an output layer whose weight is the token embedding (tied). Tuple batches (inputs, targets).
Goal: teacher-forced validation accuracy over the answer tokens. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "mask_sees_future", "diagonal_masked", "embedding_std_1", "positions_frozen")
DIGITS, SEP, VOCAB, LENGTH = 10, 10, 11, 6
D, HEADS, FF, LAYERS = 64, 4, 128, 2
IGNORE = -100
DATA_SEED, N_TRAIN, N_VAL = 0, 2000, 500


def sequences(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets), both (n, 12): the answer's 6 targets kept, the rest IGNORE."""
    digits = torch.randint(0, DIGITS, (n, LENGTH), generator=g)
    tokens = torch.cat([digits, torch.full((n, 1), SEP), digits.sort(1).values], 1)
    inputs, targets = tokens[:, :-1], tokens[:, 1:].clone()
    targets[:, :LENGTH] = IGNORE  # digits 2..6 and the separator: not predictable, not scored
    return inputs, targets


class CausalSelfAttention(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.qkv, self.out = nn.Linear(D, 3 * D), nn.Linear(D, D)

    def forward(self, x):  # (B, T, D)
        b, t, _ = x.shape
        q, k, v = (z.view(b, t, HEADS, D // HEADS).transpose(1, 2) for z in self.qkv(x).split(D, -1))
        scores = q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)  # (B, H, T, T): query row, key column
        ones = torch.ones(t, t, dtype=torch.bool, device=x.device)
        blocked = ones.triu(1)  # the keys after the query
        if self.bug == "mask_sees_future":
            blocked = ones.tril(-1)  # BUG mask_sees_future: the other triangle, the past blocked
        if self.bug == "diagonal_masked":
            blocked = ones.triu(0)  # BUG diagonal_masked: the query itself blocked too, row 0 sees nothing
        attn = scores.masked_fill(blocked, float("-inf")).softmax(-1)
        return self.out((attn @ v).transpose(1, 2).reshape(b, t, D))


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.ln1, self.attn = nn.LayerNorm(D), CausalSelfAttention(bug)
        self.ln2, self.mlp = nn.LayerNorm(D), nn.Sequential(nn.Linear(D, FF), nn.GELU(), nn.Linear(FF, D))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPTMini(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.tok, self.pos = nn.Embedding(VOCAB, D), nn.Embedding(2 * LENGTH, D)
        nn.init.normal_(self.tok.weight, std=0.02)
        nn.init.normal_(self.pos.weight, std=0.02)
        if bug == "embedding_std_1":
            nn.init.normal_(self.tok.weight, std=1.0)  # BUG embedding_std_1: 1.0 typed for GPT-2's 0.02 (tied head)
        if bug == "positions_frozen":
            self.pos.weight.requires_grad_(False)  # BUG positions_frozen: left from a sinusoidal-table variant
        self.blocks = nn.Sequential(*(Block(bug) for _ in range(LAYERS)))
        self.ln_f = nn.LayerNorm(D)
        self.head = nn.Linear(D, VOCAB, bias=False)
        self.head.weight = self.tok.weight  # tied: the output layer reads the token embedding

    def forward(self, tokens):  # (B, T) -> (B, T, VOCAB)
        pos = torch.arange(tokens.shape[1], device=tokens.device)
        return self.head(self.ln_f(self.blocks(self.tok(tokens) + self.pos(pos))))


class GPTMiniTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "gptmini")
        g = torch.Generator().manual_seed(DATA_SEED)
        self.train, self.val = sequences(N_TRAIN, g), sequences(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.train[0][:n], self.train[1][:n]
        model = GPTMini(self.bug)

        def loss(model, batch):
            inputs, targets = batch
            return F.cross_entropy(model(inputs).flatten(0, 1), targets.flatten(), ignore_index=IGNORE)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (inputs, targets) in (("train", (x, y)), ("val", self.val)):
                    out.update(sequence_metrics(split, model(inputs), targets, IGNORE))
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (x[idx], y[idx]), loss=loss,
                       evaluate=evaluate, chance_loss=math.log(DIGITS),
                       forward=lambda model, batch: model(batch[0]), targets=lambda batch: batch[1])
