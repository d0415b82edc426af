"""Held-out-13 family 2: a Transformer encoder tagging each token of a sequence as a peak, a valley or neither.

Each example: 1..24 tokens drawn uniformly from 1..9, padded with 0 to 24; a token's tag is 1 (peak) when it is larger
than both neighbours, 2 (valley) when it is smaller than both, else 0 (a missing neighbour at either end counts as
0, so an end token is compared with its one neighbour: a lone token is a peak); padded positions are tagged -100
(ignored). Model: token embedding plus learned positions (d 64), two hand-written pre-LayerNorm encoder layers
(4-head self-attention whose keys at the padding get -inf, a feed-forward 128 with GELU), a final LayerNorm and a
linear tagger 64 -> 3; cross-entropy over the real tokens (ignore_index). Dict batches {"x": tokens (B, 24),
"y": tags (B, 24)}. Goal: validation token accuracy.
Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "tags_flattened_transposed", "self_masked", "query_key_zero_init")
PAD, IGNORE, VALUES, MAX_LEN, D, HEADS, LAYERS, TAGS = 0, -100, 9, 24, 64, 4, 2, 3
DATA_SEED, N_TRAIN, N_VAL = 0, 2000, 500


def sequences(n: int, g: torch.Generator):
    lengths = torch.randint(1, MAX_LEN + 1, (n,), generator=g)
    real = torch.arange(MAX_LEN) < lengths[:, None]
    tokens = torch.where(real, torch.randint(1, VALUES + 1, (n, MAX_LEN), generator=g), PAD)
    left = F.pad(tokens, (1, 0))[:, :-1]   # 0 before the first token
    right = F.pad(tokens, (0, 1))[:, 1:]   # 0 (the padding) after the last one
    tags = torch.zeros_like(tokens)
    tags[(tokens > left) & (tokens > right)] = 1
    tags[(tokens < left) & (tokens < right)] = 2
    return tokens, tags.masked_fill(~real, IGNORE)


class SelfAttention(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.q, self.k, self.v = (nn.Linear(D, D, bias=False) for _ in range(3))
        if bug == "query_key_zero_init":
            nn.init.zeros_(self.q.weight), nn.init.zeros_(self.k.weight)  # BUG query_key_zero_init: "start uniform"
        self.o = nn.Linear(D, D)

    def forward(self, h, pad):  # (B, T, D), (B, T) True at the padding
        b, t, _ = h.shape
        split = lambda z: z.view(b, t, HEADS, D // HEADS).transpose(1, 2)  # noqa: E731
        q, k, v = split(self.q(h)), split(self.k(h)), split(self.v(h))
        scores = q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)  # (B, heads, T, T)
        blocked = pad[:, None, None, :]  # keys at the padding
        if self.bug == "self_masked":
            blocked = blocked | torch.eye(t, dtype=torch.bool, device=h.device)  # BUG self_masked: "no copying itself"
        weights = scores.masked_fill(blocked, float("-inf")).softmax(-1)
        return self.o((weights @ v).transpose(1, 2).reshape(b, t, D))


class Layer(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.attn = SelfAttention(bug)
        self.ff = nn.Sequential(nn.Linear(D, 2 * D), nn.GELU(), nn.Linear(2 * D, D))

    def forward(self, h, pad):
        h = h + self.attn(self.norm1(h), pad)
        return h + self.ff(self.norm2(h))


class Tagger(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.emb = nn.Embedding(VALUES + 1, D, padding_idx=PAD)
        self.pos = nn.Embedding(MAX_LEN, D)
        self.layers = nn.ModuleList([Layer(bug) for _ in range(LAYERS)])
        self.norm = nn.LayerNorm(D)
        self.head = nn.Linear(D, TAGS)

    def forward(self, tokens):  # (B, T) -> (B, T, 3)
        pad = tokens == PAD
        h = self.emb(tokens) + self.pos(torch.arange(tokens.shape[1], device=tokens.device))
        for layer in self.layers:
            h = layer(h, pad)
        return self.head(self.norm(h))


def tag_loss(logits, tags, bug: str):
    if bug == "tags_flattened_transposed":
        return F.cross_entropy(logits.reshape(-1, TAGS), tags.t().reshape(-1), ignore_index=IGNORE)  # BUG tags_flattened_transposed  # noqa: E501
    return F.cross_entropy(logits.reshape(-1, TAGS), tags.reshape(-1), ignore_index=IGNORE)


class TaggerTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "tagger")
        g = torch.Generator().manual_seed(DATA_SEED)
        self.train, self.val = sequences(N_TRAIN, g), sequences(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        tokens, tags = (t[:n] for t in self.train)
        model = Tagger(self.bug)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (x, y) in (("train", (tokens, tags)), ("val", self.val)):
                    logits = model(x)
                    real = y != IGNORE
                    out[f"{split}/loss"] = F.cross_entropy(logits.reshape(-1, TAGS), y.reshape(-1),
                                                           ignore_index=IGNORE).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == y)[real].float().mean().item()
            return out

        def show(b):
            return [" ".join(f"{v}/{'.^v'[t]}" for v, t in zip(x.tolist(), y.tolist()) if t != IGNORE)
                    for x, y in zip(b["x"], b["y"])]

        return Problem(model=model, train_size=n, get_batch=lambda idx: {"x": tokens[idx], "y": tags[idx]},
                       loss=lambda model, b: tag_loss(model(b["x"]), b["y"], self.bug), evaluate=evaluate,
                       chance_loss=math.log(TAGS), forward=lambda model, b: model(b["x"]), targets=lambda b: b["y"],
                       show_batch=show)
