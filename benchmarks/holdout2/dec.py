"""Held-out-2 family 4: a small decoder-only Transformer with hand-written causal self-attention on a copy language.

Each sequence is K random symbols, a separator, then the same K symbols again ("a b c | a b c"); the model
predicts every next token. The first half is random, so no model beats ln(SYMBOLS) there, while the
separator and the copy are determined: Problem.best_loss = (K - 1) ln(SYMBOLS) / (2 K) per token. The goals
are on the copy (the second half). Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "mask_lower", "mask_diagonal", "keys_detached", "log_softmax_time")
SYMBOLS, K = 8, 6
SEP = SYMBOLS + 1
VOCAB = SYMBOLS + 2  # 0 is unused
LENGTH = 2 * K  # inputs per sequence (the sequence has 2K + 1 tokens)


def copy_sequences(n: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    half = torch.randint(1, SYMBOLS + 1, (n, K), generator=g)
    seq = torch.cat([half, torch.full((n, 1), SEP), half], 1)
    return {"tokens": seq[:, :-1], "next": seq[:, 1:]}


class CausalSelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int, bug: str):
        super().__init__()
        self.heads, self.bug = heads, bug
        self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, T, D = x.shape
        split = lambda t: t.view(B, T, self.heads, D // self.heads).transpose(1, 2)  # noqa: E731  (B, h, T, d)
        q, v = split(self.q(x)), split(self.v(x))
        if self.bug == "keys_detached":
            k = split(self.k(x).detach())  # BUG keys_detached: "the keys are cached, no gradient needed"
        else:
            k = split(self.k(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(D // self.heads)  # (B, h, T, T)
        ones = torch.ones(T, T, dtype=torch.bool, device=x.device)
        if self.bug == "mask_lower":
            blocked = torch.tril(ones, diagonal=-1)  # BUG mask_lower: blocks the past instead of the future
        elif self.bug == "mask_diagonal":
            blocked = torch.triu(ones, diagonal=0)  # BUG mask_diagonal: blocks the position itself too
        else:
            blocked = torch.triu(ones, diagonal=1)  # a position sees itself and the past
        weights = scores.masked_fill(blocked, float("-inf")).softmax(-1)
        return self.proj((weights @ v).transpose(1, 2).reshape(B, T, D))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, bug: str):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = CausalSelfAttention(dim, heads, bug)
        self.ff = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.ff(self.norm2(x))


class CopyDecoder(nn.Module):
    def __init__(self, bug: str, dim: int = 64, heads: int = 4, layers: int = 2):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, dim)
        self.pos = nn.Parameter(torch.randn(LENGTH, dim) * 0.02)
        self.blocks = nn.Sequential(*(Block(dim, heads, bug) for _ in range(layers)))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, VOCAB)

    def forward(self, tokens):
        x = self.emb(tokens) + self.pos[:tokens.shape[1]]
        return self.head(self.norm(self.blocks(x)))  # (B, T, VOCAB)


def copy_metrics(split: str, logits: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    right = logits.argmax(-1) == targets
    return {f"{split}/loss": F.cross_entropy(logits.flatten(0, 1), targets.flatten()).item(),
            f"{split}/copy_acc": right[:, K:].float().mean().item()}


class DecTask:
    metrics = ("train/loss", "train/copy_acc", "val/loss", "val/copy_acc")

    def __init__(self, bug: str = "none", n_train: int = 3000, n_val: int = 500):
        self.bug = check_bug(bug, BUGS, "dec")
        self.train = copy_sequences(n_train, seed=0)
        self.val = copy_sequences(n_val, seed=1)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.train["tokens"]))
        train = {k: v[:n] for k, v in self.train.items()}
        model = CopyDecoder(self.bug)

        def forward(model, batch):
            return model(batch["tokens"])

        def loss(model, batch):
            logits = forward(model, batch)
            if self.bug == "log_softmax_time":
                logp = F.log_softmax(logits, dim=1)  # BUG log_softmax_time: dim 1 of (B, T, V) is the position
                return F.nll_loss(logp.flatten(0, 1), batch["next"].flatten())
            return F.cross_entropy(logits.flatten(0, 1), batch["next"].flatten())

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, data in (("train", train), ("val", self.val)):
                    out.update(copy_metrics(split, forward(model, data), data["next"]))
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: {k: v[idx] for k, v in train.items()},
                       loss=loss, evaluate=evaluate, chance_loss=math.log(VOCAB), forward=forward,
                       targets=lambda batch: batch["next"], best_loss=(K - 1) * math.log(SYMBOLS) / (2 * K))
