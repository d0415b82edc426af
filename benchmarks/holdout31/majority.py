"""Held-out-31 family 4: a Transformer encoder (attention written out, a key padding mask) naming the most frequent
token of a sequence from a [CLS] position.

A sequence is 5..15 tokens of 4 values (ids 2..5; PAD 0, CLS 1 prepended) with one strictly most frequent value
(drawn again otherwise); the class is that value (0..3). Torch seed 0: 3000 training and 500 validation sequences,
RIGHT-padded to the batch's longest. Model (d 64, 4 heads, 2 pre-norm blocks with nn.LayerNorm, feed-forward 128,
learnt positions): each block's attention is written out: one Linear to q, k, v, scores / sqrt(16), the padding keys
set to -inf, softmax over the keys, a Linear out; a final LayerNorm; a linear layer from the CLS position to 4
classes. Cross-entropy; Adam at 0.001. Tuple batches (tokens (B, L), class (B,)). Metrics: loss and accuracy on the
stage's sequences (at most 1000) and on validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "labels_reversed", "mask_added_as_bool", "softmax_over_queries", "qkv_std1")
PAD, CLS, VALUES = 0, 1, 4
D, HEADS, LAYERS, FF, MAX_L = 64, 4, 2, 128, 16
N_TRAIN, N_VAL = 3000, 500


def draw(n: int, g: torch.Generator) -> tuple[list[torch.Tensor], torch.Tensor]:
    seqs, labels = [], []
    while len(seqs) < n:
        length = int(torch.randint(5, MAX_L, (1,), generator=g))
        s = torch.randint(0, VALUES, (length,), generator=g)
        counts = torch.bincount(s, minlength=VALUES)
        if (counts == counts.max()).sum() > 1:
            continue
        seqs.append(torch.cat([torch.tensor([CLS]), s + 2]))
        labels.append(int(counts.argmax()))
    return seqs, torch.tensor(labels)


def collate(seqs: list) -> torch.Tensor:
    x = torch.full((len(seqs), max(len(s) for s in seqs)), PAD)
    for i, s in enumerate(seqs):
        x[i, :len(s)] = s
    return x


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.norm1, self.norm2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.ff1, self.ff2 = nn.Linear(D, FF), nn.Linear(FF, D)
        if bug == "qkv_std1":
            nn.init.normal_(self.qkv.weight, std=1.0)  # BUG qkv_std1: std 1 instead of U(-1/sqrt(64), 1/sqrt(64))

    def forward(self, x, pad):  # (B, L, D), (B, L) True at padding
        B, L, _ = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(B, L, 3, HEADS, D // HEADS).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)                      # (B, heads, L, L)
        if self.bug == "mask_added_as_bool":
            scores = scores + pad[:, None, None, :]  # BUG mask_added_as_bool: +1 on padding keys, not -inf
        else:
            scores = scores.masked_fill(pad[:, None, None, :], float("-inf"))
        dim = -2 if self.bug == "softmax_over_queries" else -1  # BUG softmax_over_queries: normalised over queries
        att = (scores.softmax(dim) @ v).transpose(1, 2).reshape(B, L, D)
        x = x + self.proj(att)
        return x + self.ff2(F.relu(self.ff1(self.norm2(x))))


class MajorityNet(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.tok = nn.Embedding(2 + VALUES, D, padding_idx=PAD)
        self.pos = nn.Embedding(MAX_L, D)
        self.blocks = nn.ModuleList([Block(bug) for _ in range(LAYERS)])
        self.norm = nn.LayerNorm(D)
        self.head = nn.Linear(D, VALUES)

    def forward(self, x):  # (B, L) -> (B, 4)
        pad = x == PAD
        h = self.tok(x) + self.pos(torch.arange(x.shape[1], device=x.device))[None]
        for block in self.blocks:
            h = block(h, pad)
        return self.head(self.norm(h[:, 0]))


class MajorityTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "majority")
        g = torch.Generator().manual_seed(0)
        (self.train, self.y_train), (self.val, self.y_val) = draw(N_TRAIN, g), draw(N_VAL, g)
        if self.bug == "labels_reversed":
            self.y_train = self.y_train.flip(0)  # BUG labels_reversed: the training labels in reverse order
        self.x_val = collate(self.val)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        seqs, y = self.train[:n], self.y_train[:n]
        model = MajorityNet(self.bug)
        x_eval = collate(seqs[:1000])

        def loss(model, b):
            return F.cross_entropy(model(b[0]), b[1])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x_eval, y[:1000]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    logits = model(xs)
                    out[f"{split}/loss"] = F.cross_entropy(logits, ys).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (collate([seqs[i] for i in idx.tolist()]),
                                                                       y[idx]),
                       loss=loss, evaluate=evaluate, chance_loss=math.log(VALUES),
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
