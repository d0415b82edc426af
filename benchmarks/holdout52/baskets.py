"""Held-out-52 family 4: a Transformer encoder over shopping baskets (sets of items, no positions) tagging each item
whose complement (pasta and sauce, chips and dip: 15 fixed pairs of 30 items) is in the same basket, with a key-padding
mask, over plain tuple batches.

A basket: 3..12 distinct items of 30 (ids 1..30, PAD 0; items 2j+1 and 2j+2 are complements), built from 0..5 whole
pairs and single items (torch seed 0), in random order. Tags: 1.0 where the item's complement is in the basket.
3000 training and 600 validation baskets. Tuple batches (items (B, T), tags (B, T)), right-padded (tags 0 at PAD).
Model: Embedding(31, 64) (no positions: a basket is a set); two pre-norm blocks (nn.LayerNorm; 4 heads of 16, attention
written out, scores / 4, padded keys at -inf; GELU feed-forward 128); a final LayerNorm; Linear(64, 1), one logit per
item. Loss: binary cross-entropy with logits, averaged over the real items (the padding masked out); AdamW at 0.001.
Metrics: loss, item accuracy and `exact` (every item of the basket right) on the stage's first 500 baskets and on
validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "items_shuffled_apart", "loss_on_padding", "constant_init", "heads_merged_without_transpose")
PAD, ITEMS, D, HEADS, FF, N_TRAIN, N_VAL = 0, 30, 64, 4, 128, 3000, 600


def partner(item: int) -> int:
    return (item - 1 ^ 1) + 1


def draw(n: int, g: torch.Generator) -> list:
    out = []
    for _ in range(n):
        size = int(torch.randint(3, 13, (1,), generator=g))
        pairs = int(torch.randint(0, min(5, size // 2) + 1, (1,), generator=g))
        order = torch.randperm(ITEMS // 2, generator=g).tolist()
        basket = [2 * p + k + 1 for p in order[:pairs] for k in (0, 1)]
        for p in order[pairs:pairs + size - 2 * pairs]:
            basket.append(2 * p + 1 + int(torch.randint(0, 2, (1,), generator=g)))
        basket = [basket[i] for i in torch.randperm(len(basket), generator=g).tolist()]
        out.append((basket, [float(partner(i) in basket) for i in basket]))
    return out


def make_batch(items: list, bug: str = "none"):
    width = max(len(b) for b, _ in items)
    tokens, tags = torch.full((len(items), width), PAD), torch.zeros(len(items), width)
    for i, (b, t) in enumerate(items):
        if bug == "items_shuffled_apart":
            b = [b[j] for j in torch.randperm(len(b)).tolist()]  # BUG items_shuffled_apart: the order-shuffling augmentation permutes the items but not their tags
        tokens[i, :len(b)], tags[i, :len(t)] = torch.tensor(b), torch.tensor(t)
    return tokens, tags


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.n1, self.n2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.ff = nn.Sequential(nn.Linear(D, FF), nn.GELU(), nn.Linear(FF, D))

    def forward(self, x, pad):  # (B, T, D); pad (B, 1, 1, T): True at padded keys
        b, t, _ = x.shape
        q, k, v = (u.view(b, t, HEADS, D // HEADS).transpose(1, 2) for u in self.qkv(self.n1(x)).chunk(3, -1))
        s = (q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)).masked_fill(pad, float("-inf"))
        a = s.softmax(-1) @ v                                     # (B, HEADS, T, D / HEADS)
        if self.bug == "heads_merged_without_transpose":
            a = a.reshape(b, t, D)  # BUG heads_merged_without_transpose: the heads merged by reshape without transpose(1, 2) first
        else:
            a = a.transpose(1, 2).reshape(b, t, D)
        x = x + self.proj(a)
        return x + self.ff(self.n2(x))


class Basketer(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.emb = nn.Embedding(ITEMS + 1, D, padding_idx=PAD)
        self.blocks = nn.ModuleList(Block(bug) for _ in range(2))
        self.norm, self.head = nn.LayerNorm(D), nn.Linear(D, 1)
        if bug == "constant_init":
            [nn.init.constant_(p, 0.02) for p in self.parameters() if p.dim() > 1]  # BUG constant_init: constant_(p, 0.02) where normal_(p, std=0.02) was meant

    def forward(self, tokens):  # (B, T) -> (B, T) logits
        pad = (tokens == PAD)[:, None, None, :]
        h = self.emb(tokens)
        for block in self.blocks:
            h = block(h, pad)
        return self.head(self.norm(h)).squeeze(-1)


def tag_loss(logits, tokens, tags, bug: str = "none"):
    if bug == "loss_on_padding":
        real = (tokens == PAD).float()  # BUG loss_on_padding: the loss mask written == PAD where != PAD was meant
    else:
        real = (tokens != PAD).float()
    return (F.binary_cross_entropy_with_logits(logits, tags, reduction="none") * real).sum() / real.sum()


class BasketsTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "baskets")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        items = self.train[:n]
        model = Basketer(self.bug)
        bug = self.bug
        train_eval, val_eval = make_batch(items[:500]), make_batch(self.val)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (tokens, tags) in (("train", train_eval), ("val", val_eval)):
                    tokens, tags = on_device_of(model, tokens), on_device_of(model, tags)
                    logits, real = model(tokens), tokens != PAD
                    right = ((logits > 0).float() == tags) | ~real
                    out[f"{split}/loss"] = tag_loss(logits, tokens, tags).item()
                    out[f"{split}/acc"] = ((right & real).sum() / real.sum()).item()
                    if split == "val":
                        out["val/exact"] = right.all(1).float().mean().item()
            return out

        return Problem(model=model, train_size=n,
                       get_batch=lambda idx: make_batch([items[i] for i in idx.tolist()], bug),
                       loss=lambda model, b: tag_loss(model(b[0]), b[0], b[1], bug), evaluate=evaluate,
                       chance_loss=math.log(2), forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
