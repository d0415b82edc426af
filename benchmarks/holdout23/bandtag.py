"""Held-out-23 family 4: a Transformer encoder tagger with hand-written band-masked multi-head attention.

Each sequence is 8..24 tokens drawn uniformly from 8 (ids 1..8, PAD = 0), right-padded to the batch's longest; each
token's tag is 1 when the same token occurs again within distance W = 2 (positions i-2..i+2 but i), else 0 (about
41% ones). Torch seed 0: 3000 training, 400 validation sequences. Tuple batches (tokens (B, L), tags (B, L)) with
tag -100 at the padding. Model (d 32, 4 heads of 8, 2 pre-LN layers, feed-forward 64): token and learned position
embeddings; HAND-WRITTEN multi-head self-attention whose mask allows key j for query i when |i - j| <= W (the band)
and j is not padding (the key padding mask; a padding query sees itself alone, so no row is fully masked), masked_fill -inf before the softmax; final LN, linear to 2 tags. Loss:
cross-entropy ignoring -100. Adam at 0.003. Metrics: token loss and accuracy over real tokens (train on the first
400), val/exact (whole sequences). Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "band_mask_inverted", "heads_merged_without_transpose", "token_emb_std_30")
PAD, VOCAB, W, MIN_L, MAX_L = 0, 9, 2, 8, 24
D, HEADS, LAYERS, FF = 32, 4, 2, 64
IGNORE = -100
N_TRAIN, N_VAL = 3000, 400


def draw(n: int, g: torch.Generator) -> list[torch.Tensor]:
    return [torch.randint(1, VOCAB, (int(torch.randint(MIN_L, MAX_L + 1, (1,), generator=g)),), generator=g)
            for _ in range(n)]


def tags(s: torch.Tensor) -> torch.Tensor:
    n = len(s)
    same = s[:, None] == s[None, :]
    i = torch.arange(n)
    near = ((i[:, None] - i[None, :]).abs() <= W) & (i[:, None] != i[None, :])
    return (same & near).any(1).long()


def collate(seqs: list[torch.Tensor]):
    width = max(len(s) for s in seqs)
    x, y = torch.full((len(seqs), width), PAD), torch.full((len(seqs), width), IGNORE)
    for i, s in enumerate(seqs):
        x[i, :len(s)], y[i, :len(s)] = s, tags(s)
    return x, y


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.norm1, self.norm2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.ff = nn.Sequential(nn.Linear(D, FF), nn.GELU(), nn.Linear(FF, D))

    def forward(self, x, allowed):  # (B, L, D), (B, L, L) bool
        b, n, _ = x.shape
        q, k, v = (t.view(b, n, HEADS, D // HEADS).transpose(1, 2) for t in self.qkv(self.norm1(x)).chunk(3, -1))
        scores = q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)                # (B, H, L, L)
        if self.bug == "band_mask_inverted":
            scores = scores.masked_fill(allowed[:, None], float("-inf"))  # BUG band_mask_inverted: the allowed keys filled with -inf
        else:
            scores = scores.masked_fill(~allowed[:, None], float("-inf"))
        out = scores.softmax(-1) @ v                                             # (B, H, L, dh)
        if self.bug == "heads_merged_without_transpose":
            out = out.reshape(b, n, D)  # BUG heads_merged_without_transpose: (B, H, L, dh) reshaped to (B, L, D) directly
        else:
            out = out.transpose(1, 2).reshape(b, n, D)
        x = x + self.proj(out)
        return x + self.ff(self.norm2(x))


class BandTagger(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.tok, self.pos = nn.Embedding(VOCAB, D), nn.Embedding(MAX_L, D)
        if bug == "token_emb_std_30":
            nn.init.normal_(self.tok.weight, std=30.0)  # BUG token_emb_std_30: the token table drawn with std 30
        self.blocks = nn.ModuleList([Block(bug) for _ in range(LAYERS)])
        self.norm, self.head = nn.LayerNorm(D), nn.Linear(D, 2)

    def forward(self, x):  # (B, L) -> (B, L, 2)
        n = x.shape[1]
        i = torch.arange(n, device=x.device)
        band = (i[:, None] - i[None, :]).abs() <= W                               # (L, L)
        allowed = (band[None] & (x != PAD)[:, None, :]) | torch.eye(n, dtype=torch.bool, device=x.device)
        h = self.tok(x) + self.pos(i)[None]
        for block in self.blocks:
            h = block(h, allowed)
        return self.head(self.norm(h))


class BandTagTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "bandtag")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        seqs = self.train[:n]
        model = BandTagger(self.bug)
        train_eval, val_eval = collate(seqs[:400]), collate(self.val)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (x, y) in (("train", train_eval), ("val", val_eval)):
                    out.update(sequence_metrics(split, model(x), y, IGNORE))
            return out

        def loss(model, b):
            return F.cross_entropy(model(b[0]).flatten(0, 1), b[1].flatten(), ignore_index=IGNORE)

        return Problem(model=model, train_size=n, get_batch=lambda idx: collate([seqs[i] for i in idx.tolist()]),
                       loss=loss, evaluate=evaluate, chance_loss=math.log(2),
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
