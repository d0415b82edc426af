"""Held-out-39 family 4: a Transformer encoder (attention written out, a key padding mask) tagging each token of a
sequence with how many times it occurs in the whole sequence (a histogram), over right-padded batches.

A sequence: 4..16 letters drawn uniformly from six; the target at each letter: its count in the sequence minus 1
(classes 0..9, a count above 10 clipped to class 9; no sequence of the data reaches it). Ids: PAD 0, BOS 1 (put before
every sequence, a key every query may attend to), the letters 2..7. Targets IGNORE (-100) at BOS and padding. Torch
seed 0 draws 3000 training and 500 validation sequences. Dict batches {x (B, L), y (B, L)}, right-padded, in the order
asked for. Model: no position information (the answer does not depend on order); token embeddings of 64 (padding_idx
0); 2 pre-norm blocks (nn.LayerNorm; attention written out: one Linear to q, k, v, 4 heads of 16, scores / sqrt(16),
PAD keys -inf, softmax over the keys; feed-forward 128 with ReLU); a final LayerNorm and Linear(64, 10).
Cross-entropy with IGNORE ignored; Adam at 0.002. Metrics: token loss and accuracy over the letters (train: the
stage's first 400 sequences) and val/exact. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "pad_mask_dropped", "scores_times_sqrt_d", "train_val_overlap", "qkv_frozen", "count_over_batch")
PAD, BOS, IGNORE, LETTERS, K = 0, 1, -100, 6, 10
D, HEADS, FF, LAYERS = 64, 4, 128, 2
N_TRAIN, N_VAL = 3000, 500


def draw(n: int, g: torch.Generator) -> list[list[int]]:
    return [(2 + torch.randint(0, LETTERS, (int(torch.randint(4, 17, (1,), generator=g)),), generator=g)).tolist()
            for _ in range(n)]


def make_batch(seqs: list, bug: str = "none") -> dict:
    w = 1 + max(len(s) for s in seqs)
    x = torch.full((len(seqs), w), PAD)
    for i, s in enumerate(seqs):
        x[i, :1 + len(s)] = torch.tensor([BOS] + s)
    letter = x > BOS
    if bug == "count_over_batch":
        counts = (x[:, :, None] == x.flatten()[None, None, :]).sum(-1)  # BUG count_over_batch: over the whole batch
    else:
        counts = (x[:, :, None] == x[:, None, :]).sum(-1)
    y = torch.where(letter, (counts - 1).clamp(max=K - 1), torch.full_like(x, IGNORE))
    return {"x": x, "y": y}


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.norm1, self.norm2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.ff1, self.ff2 = nn.Linear(D, FF), nn.Linear(FF, D)
        if bug == "qkv_frozen":
            self.qkv.requires_grad_(False)  # BUG qkv_frozen: meant for pretrained weights; these are random

    def forward(self, h, pad):  # (B, L, D), (B, 1, 1, L) True at PAD keys
        b, w, _ = h.shape
        q, k, v = self.qkv(self.norm1(h)).view(b, w, 3, HEADS, D // HEADS).permute(2, 0, 3, 1, 4)
        if self.bug == "scores_times_sqrt_d":
            scores = q @ k.transpose(-1, -2) * math.sqrt(D // HEADS)  # BUG scores_times_sqrt_d: * instead of /
        else:
            scores = q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)
        if self.bug != "pad_mask_dropped":  # BUG pad_mask_dropped: the padding mask never applied
            scores = scores.masked_fill(pad, float("-inf"))
        h = h + self.proj((scores.softmax(-1) @ v).transpose(1, 2).reshape(b, w, D))
        return h + self.ff2(F.relu(self.ff1(self.norm2(h))))


class Tally(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.tok = nn.Embedding(2 + LETTERS, D, padding_idx=PAD)
        self.blocks = nn.ModuleList(Block(bug) for _ in range(LAYERS))
        self.norm, self.head = nn.LayerNorm(D), nn.Linear(D, K)

    def forward(self, x):  # (B, L) right-padded ids -> (B, L, K) logits
        pad = (x == PAD)[:, None, None, :]
        h = self.tok(x)
        for block in self.blocks:
            h = block(h, pad)
        return self.head(self.norm(h))


class TallyTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "tally")
        g = torch.Generator().manual_seed(0)
        seqs = draw(N_TRAIN + N_VAL, g)
        self.train, self.val = seqs[:N_TRAIN], seqs[N_TRAIN:]
        if self.bug == "train_val_overlap":
            self.val = seqs[:N_VAL]  # BUG train_val_overlap: seqs[:N_VAL] for seqs[N_TRAIN:]

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        seqs = self.train[:n]
        model = Tally(self.bug)
        train_eval, val_eval = make_batch(seqs[:400], self.bug), make_batch(self.val, self.bug)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    b = on_device_of(model, b)
                    out.update(sequence_metrics(split, model(b["x"]), b["y"], IGNORE))
            return out

        def loss(model, b):
            return F.cross_entropy(model(b["x"]).flatten(0, 1), b["y"].flatten(), ignore_index=IGNORE)

        return Problem(model=model, train_size=n, get_batch=lambda idx: make_batch([seqs[i] for i in idx.tolist()],
                                                                                   self.bug),
                       loss=loss, evaluate=evaluate, chance_loss=math.log(K), forward=lambda model, b: model(b["x"]),
                       targets=lambda b: b["y"])
