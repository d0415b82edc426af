"""Held-out-48 family 4: a Transformer encoder over right-padded token strings tagging each token with how often
its letter occurs in the string (a histogram task), over namedtuple batches.

A string: 4..14 letters of an alphabet of 8 (uniform). A letter's tag: its count in the string, capped at 4, minus 1
(classes 0..3). Ids: PAD 0, a CLS-like start token 1 (tag -100, it gives attention somewhere to rest), the letters
2..9; padding tags -100. Torch seed 0 draws 3000 training and 600 validation strings. Namedtuple batches
Counted(tokens (B, T), tags (B, T)), right-padded to the batch's longest. Model: token embeddings of 64 plus learnt
positions (16); two pre-norm blocks (4 heads of 16, attention written out, scores / 4, padded keys at -inf; GELU
feed-forward 128); a final LayerNorm; Linear(64, 4) per position. Cross-entropy over the tagged positions; Adam at
0.001. Metrics: loss and tag accuracy over real letters and `exact` (every letter right) on the stage's first 500
strings and on validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from collections import namedtuple
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "counted_before_truncation", "mask_convention_flipped", "heads_split_wrong", "encoder_normal_std1")
Counted = namedtuple("Counted", "tokens tags")
PAD, START, LETTERS, D, HEADS, FF, MAX_POS, IGNORE = 0, 1, 8, 64, 4, 128, 16, -100
MIN_LEN, MAX_LEN, N_TRAIN, N_VAL, CLASSES = 4, 14, 3000, 600, 4


def draw(n: int, g: torch.Generator, bug: str) -> list:
    out = []
    for _ in range(n):
        length = int(torch.randint(MIN_LEN, MAX_LEN + 1, (1,), generator=g))
        if bug == "counted_before_truncation":
            raw = torch.randint(0, LETTERS, (length + 6,), generator=g).tolist()  # BUG counted_before_truncation: the tags counted on the raw string, which is then cut to its length
        else:
            raw = torch.randint(0, LETTERS, (length,), generator=g).tolist()
        tags = [min(raw.count(c), 4) - 1 for c in raw]
        out.append(([START] + [c + 2 for c in raw[:length]], [IGNORE] + tags[:length]))
    return out


def make_batch(items: list) -> Counted:
    width = max(len(t) for t, _ in items)
    tokens, tags = torch.full((len(items), width), PAD), torch.full((len(items), width), IGNORE)
    for i, (t, y) in enumerate(items):
        tokens[i, :len(t)], tags[i, :len(y)] = torch.tensor(t), torch.tensor(y)
    return Counted(tokens, tags)


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.n1, self.n2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.ff = nn.Sequential(nn.Linear(D, FF), nn.GELU(), nn.Linear(FF, D))

    def forward(self, x, pad):  # (B, T, D); pad (B, T): True at padding
        b, t, _ = x.shape
        if self.bug == "heads_split_wrong":
            q, k, v = (u.reshape(b, HEADS, t, D // HEADS) for u in self.qkv(self.n1(x)).chunk(3, -1))  # BUG heads_split_wrong: reshape(b, heads, t, dh) where view(b, t, heads, dh).transpose(1, 2) was meant
        else:
            q, k, v = (u.view(b, t, HEADS, D // HEADS).transpose(1, 2) for u in self.qkv(self.n1(x)).chunk(3, -1))
        s = q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)
        s = s.masked_fill(pad[:, None, None, :], float("-inf"))
        x = x + self.proj((s.softmax(-1) @ v).transpose(1, 2).reshape(b, t, D))
        return x + self.ff(self.n2(x))


class Tallier(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.emb, self.pos = nn.Embedding(LETTERS + 2, D, padding_idx=PAD), nn.Embedding(MAX_POS, D)
        self.blocks = nn.ModuleList(Block(bug) for _ in range(2))
        self.norm, self.head = nn.LayerNorm(D), nn.Linear(D, CLASSES)
        if bug == "encoder_normal_std1":
            [nn.init.normal_(m.weight) for m in self.modules() if isinstance(m, nn.Linear)]  # BUG encoder_normal_std1: a TensorFlow habit, random_normal's stddev 1.0 on every Linear

    def forward(self, tokens):  # (B, T) -> (B, T, 4) logits
        if self.bug == "mask_convention_flipped":
            pad = tokens != PAD  # BUG mask_convention_flipped: an attention_mask (1 = attend, Hugging Face's convention) used where True = ignore is expected
        else:
            pad = tokens == PAD
        h = self.emb(tokens) + self.pos(torch.arange(tokens.shape[1], device=tokens.device))
        for block in self.blocks:
            h = block(h, pad)
        return self.head(self.norm(h))


def tally_metrics(split: str, logits: torch.Tensor, tags: torch.Tensor) -> dict:
    real = tags != IGNORE
    right = (logits.argmax(-1) == tags) | ~real
    return {f"{split}/loss": F.cross_entropy(logits.flatten(0, 1), tags.flatten(), ignore_index=IGNORE).item(),
            f"{split}/acc": (right & real).sum().item() / real.sum().item(),
            f"{split}/exact": right.all(1).float().mean().item()}


class TalliesTask:
    metrics = ("train/loss", "train/acc", "train/exact", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "tallies")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g, self.bug), draw(N_VAL, g, self.bug)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        items = self.train[:n]
        model = Tallier(self.bug)
        train_eval, val_eval = make_batch(items[:500]), make_batch(self.val)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    b = Counted(*(on_device_of(model, t) for t in b))
                    out.update(tally_metrics(split, model(b.tokens), b.tags))
            return out

        def loss(model, b):
            return F.cross_entropy(model(b.tokens).flatten(0, 1), b.tags.flatten(), ignore_index=IGNORE)

        return Problem(model=model, train_size=n, get_batch=lambda idx: make_batch([items[i] for i in idx.tolist()]),
                       loss=loss, evaluate=evaluate, chance_loss=math.log(CLASSES),
                       forward=lambda model, b: model(b.tokens), targets=lambda b: b.tags)
