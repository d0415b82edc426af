"""Held-out-47 family 4: a causal Transformer tagging each token of a sequence with how often it has appeared before
(0, 1, or 2 and more), over namedtuple batches.

A sequence: 6..16 tokens drawn uniformly from 8 symbols (ids 1..8, PAD 0); each position's tag is the number of
earlier positions holding the same symbol, capped at 2. Torch seed 0 draws 3000 training and 600 validation
sequences. Namedtuple batches Tagged(tokens (B, L), tags (B, L)), right-padded, tags -100 at the padding. Model: token
and learnt position embeddings of 64; two pre-norm blocks (nn.LayerNorm, attention written out with 4 heads, a causal
mask filled with -inf, then a 128-wide ReLU MLP); a final LayerNorm and Linear(64, 3). Loss: cross-entropy over the
non-padded positions; Adam at 0.001. Metrics: loss and per-token accuracy on the stage's first 500 sequences and on
validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from collections import namedtuple
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "tags_shifted", "mask_lower_triangle", "softmax_over_queries", "heads_split_without_transpose")
PAD, SYMBOLS, MIN_LEN, MAX_LEN, CAP = 0, 8, 6, 16, 2
D, HEADS, FF, LAYERS, N_TRAIN, N_VAL = 64, 4, 128, 2, 3000, 600
Tagged = namedtuple("Tagged", "tokens tags")


def draw(n: int, gen: torch.Generator) -> list[list[int]]:
    return [torch.randint(1, SYMBOLS + 1, (int(torch.randint(MIN_LEN, MAX_LEN + 1, (1,), generator=gen)),),
                          generator=gen).tolist() for _ in range(n)]


def make_batch(seqs: list[list[int]], bug: str = "none") -> Tagged:
    width = max(map(len, seqs))
    tokens, tags = torch.full((len(seqs), width), PAD), torch.full((len(seqs), width), -100)
    for i, s in enumerate(seqs):
        seen: dict[int, int] = {}
        t = []
        for sym in s:
            t.append(min(seen.get(sym, 0), CAP))
            seen[sym] = seen.get(sym, 0) + 1
        if bug == "tags_shifted":
            t = t[1:] + [-100]  # BUG tags_shifted: a language model's shift applied to a tagging task (each position tagged with the next one's tag)
        tokens[i, :len(s)], tags[i, :len(s)] = torch.tensor(s), torch.tensor(t)
    return Tagged(tokens, tags)


class Attention(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)

    def split(self, x):  # (B, L, D) -> (B, heads, L, D / heads)
        B, L, _ = x.shape
        if self.bug == "heads_split_without_transpose":
            return x.reshape(B, HEADS, L, D // HEADS)  # BUG heads_split_without_transpose: reshape straight to (B, heads, L, d) mixes positions
        return x.reshape(B, L, HEADS, D // HEADS).transpose(1, 2)

    def forward(self, x):
        B, L, _ = x.shape
        q, k, v = (self.split(t) for t in self.qkv(x).chunk(3, -1))
        scores = q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)
        blocked = torch.ones(L, L, dtype=torch.bool, device=x.device).triu(1)
        if self.bug == "mask_lower_triangle":
            blocked = torch.ones(L, L, dtype=torch.bool, device=x.device).tril(-1)  # BUG mask_lower_triangle: tril where triu was meant: the past hidden, the future shown
        scores = scores.masked_fill(blocked, float("-inf"))
        weights = scores.softmax(-1)
        if self.bug == "softmax_over_queries":
            weights = scores.softmax(-2)  # BUG softmax_over_queries: normalised over the queries' axis, not the keys'
        return self.proj((weights @ v).transpose(1, 2).reshape(B, L, D))


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.att = Attention(bug)
        self.mlp = nn.Sequential(nn.Linear(D, FF), nn.ReLU(), nn.Linear(FF, D))

    def forward(self, x):
        x = x + self.att(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class RepeatTagger(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.emb, self.pos = nn.Embedding(SYMBOLS + 1, D), nn.Embedding(MAX_LEN, D)
        self.blocks = nn.ModuleList(Block(bug) for _ in range(LAYERS))
        self.ln, self.head = nn.LayerNorm(D), nn.Linear(D, CAP + 1)

    def forward(self, tokens):  # (B, L) -> (B, L, 3)
        x = self.emb(tokens) + self.pos(torch.arange(tokens.shape[1], device=tokens.device))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln(x))


def tag_metrics(split: str, logits, tags) -> dict:
    real = tags != -100
    return {f"{split}/loss": F.cross_entropy(logits.flatten(0, 1), tags.flatten(), ignore_index=-100).item(),
            f"{split}/acc": ((logits.argmax(-1) == tags) & real).sum().item() / real.sum().item()}


class RepeatsTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "repeats")
        gen = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, gen), draw(N_VAL, gen)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        seqs = self.train[:n]
        model = RepeatTagger(self.bug)
        bug = self.bug
        train_eval, val_eval = make_batch(seqs[:500], bug), make_batch(self.val, bug)

        def loss(model, b: Tagged):
            return F.cross_entropy(model(b.tokens).flatten(0, 1), b.tags.flatten(), ignore_index=-100)

        def evaluate(model):
            device = next(model.parameters()).device
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    out.update(tag_metrics(split, model(b.tokens.to(device)), b.tags.to(device)))
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: make_batch([seqs[i] for i in idx.tolist()], bug),
                       loss=loss, evaluate=evaluate, chance_loss=math.log(CAP + 1),
                       forward=lambda model, b: model(b.tokens), targets=lambda b: b.tags)
