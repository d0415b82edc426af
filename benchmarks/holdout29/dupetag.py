"""Held-out-29 family 4: a Transformer encoder tagging each token of a sequence that occurs more than once in it,
nn.MultiheadAttention with a key padding mask.

A sequence is 4..14 tokens drawn from 16 values (ids 1..16, PAD 0); each position's target is 1 when its value occurs
elsewhere in the sequence (class 2), else class 1 (padding targets PAD 0, ignored). Torch seed 0: 3000 training and 500 validation
sequences, RIGHT-padded to the batch's longest. Model (d 64, 4 heads, 2 pre-norm blocks with nn.LayerNorm,
feed-forward 128, a final norm): a token embedding and a learnt position embedding; each block's attention is
nn.MultiheadAttention(batch_first=True) with key_padding_mask = (tokens == PAD); a linear layer to 3 classes per
position (3 logits: PAD, once, repeated). Cross-entropy over the real positions (ignore_index PAD); Adam at 0.003. Tuple batches (tokens (B, L),
targets (B, L)). Metrics: loss and accuracy over the real positions (train: the stage's first 400) and val/exact.
Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "pad_mask_from_token_1", "ignore_index_1", "noise_in_eval", "attn_in_proj_zero")
PAD, VALUES = 0, 16
D, HEADS, LAYERS, FF, MAX_L = 64, 4, 2, 128, 14
N_TRAIN, N_VAL = 3000, 500


def draw(n: int, g: torch.Generator) -> list[tuple[torch.Tensor, torch.Tensor]]:
    out = []
    for _ in range(n):
        length = int(torch.randint(4, MAX_L + 1, (1,), generator=g))
        ids = torch.randint(1, VALUES + 1, (length,), generator=g)
        counts = torch.bincount(ids, minlength=VALUES + 1)
        out.append((ids, 1 + (counts[ids] > 1).long()))
    return out


def collate(seqs: list) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s, _ in seqs)
    x, y = torch.full((len(seqs), width), PAD), torch.full((len(seqs), width), PAD)
    for i, (s, t) in enumerate(seqs):
        x[i, :len(s)], y[i, :len(t)] = s, t  # right padding
    return x, y


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.norm1, self.norm2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.attn = nn.MultiheadAttention(D, HEADS, batch_first=True)
        if bug == "attn_in_proj_zero":
            nn.init.zeros_(self.attn.in_proj_weight)  # BUG attn_in_proj_zero: q, k and v projections zero-initialised
        self.ff = nn.Sequential(nn.Linear(D, FF), nn.ReLU(), nn.Linear(FF, D))

    def forward(self, x, pad):  # (B, L, D), (B, L) True at padding
        h = self.norm1(x)
        x = x + self.attn(h, h, h, key_padding_mask=pad, need_weights=False)[0]
        return x + self.ff(self.norm2(x))


class DupeTagger(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.tok = nn.Embedding(VALUES + 1, D, padding_idx=PAD)
        self.pos = nn.Embedding(MAX_L, D)
        self.blocks = nn.ModuleList([Block(bug) for _ in range(LAYERS)])
        self.norm = nn.LayerNorm(D)
        self.head = nn.Linear(D, 3)

    def forward(self, x):  # (B, L) -> (B, L, 3)
        if self.bug == "pad_mask_from_token_1":
            pad = x == 1  # BUG pad_mask_from_token_1: the padding mask built from token id 1 instead of PAD
        else:
            pad = x == PAD
        h = self.tok(x) + self.pos(torch.arange(x.shape[1], device=x.device))[None]
        if self.bug == "noise_in_eval":
            h = h + 0.5 * torch.randn_like(h)  # BUG noise_in_eval: embedding noise added without checking self.training
        for block in self.blocks:
            h = block(h, pad)
        return self.head(self.norm(h))


class DupeTagTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "dupetag")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        seqs = self.train[:n]
        model = DupeTagger(self.bug)
        train_eval, val_eval = collate(seqs[:400]), collate(self.val)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (x, y) in (("train", train_eval), ("val", val_eval)):
                    x, y = on_device_of(model, x), on_device_of(model, y)
                    out.update(sequence_metrics(split, model(x), y, PAD))
            return out

        def loss(model, b):
            if self.bug == "ignore_index_1":
                return F.cross_entropy(model(b[0]).flatten(0, 1), b[1].flatten(), ignore_index=1)  # BUG ignore_index_1
            return F.cross_entropy(model(b[0]).flatten(0, 1), b[1].flatten(), ignore_index=PAD)

        return Problem(model=model, train_size=n, get_batch=lambda idx: collate([seqs[i] for i in idx.tolist()]),
                       loss=loss, evaluate=evaluate, chance_loss=math.log(3),
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
