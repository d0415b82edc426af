"""Held-out-20 family 4: a Transformer encoder with hand-written attention and a learned relative position bias.

Each sequence is 6..14 digits (ids 1..10 for 0..9; 0 PAD; uniform, torch seed 0; 3000 training, 400 validation),
right-padded. Per-token labels: (d_i + d_{i-2}) mod 10 for i >= 2; the first two positions and the padding carry
-100 (ignored). Model (pre-LN, d 64, 4 heads, feed-forward 128, 2 blocks, no dropout, no absolute positions): a
token embedding (PAD row zero); hand-written attention: one qkv linear, heads by view(B, T, H, dh).transpose(1, 2),
scores q k^T / sqrt(dh) plus a learned bias per head and relative distance j - i clipped to [-4, 4] (an
nn.Parameter, zeros), padding keys set to -inf by masked_fill, a softmax over the keys, an output projection; a
final LayerNorm and a linear to 10 classes. Loss: cross-entropy, -100 ignored. Adam at 0.003. Tuple batches
(tokens, labels). Metrics: token accuracy and loss over the labelled positions; goal: validation token accuracy.
Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "pad_mask_from_first_row", "qkv_std_1", "relbias_plain_tensor", "softmax_over_queries")
PAD, IGNORE, CLASSES = 0, -100, 10
VOCAB = CLASSES + 1
MIN_LEN, MAX_LEN, D, HEADS, FF, LAYERS, CLIP = 6, 14, 64, 4, 128, 2, 4
DATA_SEED, N_TRAIN, N_VAL = 0, 3000, 400


def examples(n: int, g: torch.Generator) -> list[torch.Tensor]:
    return [torch.randint(CLASSES, (int(torch.randint(MIN_LEN, MAX_LEN + 1, (1,), generator=g)),), generator=g)
            for _ in range(n)]


def make_batch(seqs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in seqs)
    tokens, labels = torch.full((len(seqs), width), PAD), torch.full((len(seqs), width), IGNORE)
    for i, s in enumerate(seqs):
        tokens[i, :len(s)] = s + 1
        labels[i, 2:len(s)] = (s[2:] + s[:-2]) % CLASSES
    return tokens, labels


class RelAttention(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        if bug == "relbias_plain_tensor":
            self.rel = torch.zeros(HEADS, 2 * CLIP + 1, requires_grad=True)  # noqa: E501  BUG relbias_plain_tensor: the bias table a plain tensor attribute, not an nn.Parameter
        else:
            self.rel = nn.Parameter(torch.zeros(HEADS, 2 * CLIP + 1))
        if bug == "qkv_std_1":
            nn.init.normal_(self.qkv.weight, std=1.0)  # BUG qkv_std_1: the qkv weights drawn N(0, 1)

    def forward(self, x, pad):  # x (B, T, D), pad (B, T) True at padding
        b, t, _ = x.shape
        q, k, v = (z.view(b, t, HEADS, D // HEADS).transpose(1, 2) for z in self.qkv(x).split(D, -1))
        pos = torch.arange(t, device=x.device)
        rel = (pos[None, :] - pos[:, None]).clamp(-CLIP, CLIP) + CLIP                  # (T, T): j - i
        scores = q @ k.transpose(-1, -2) / math.sqrt(D // HEADS) + self.rel[:, rel]     # (B, H, T, T)
        keypad = pad[:, None, None, :]
        if self.bug == "pad_mask_from_first_row":
            keypad = pad[:1, None, None, :]  # noqa: E501  BUG pad_mask_from_first_row: the key padding mask of the batch's first row, broadcast to all
        weights = scores.masked_fill(keypad, float("-inf")).softmax(-1)
        if self.bug == "softmax_over_queries":
            weights = scores.masked_fill(keypad, float("-inf")).softmax(-2)  # noqa: E501  BUG softmax_over_queries: normalised over the queries
        return self.proj((weights @ v).transpose(1, 2).reshape(b, t, D))


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.attn = RelAttention(bug)
        self.ff = nn.Sequential(nn.Linear(D, FF), nn.ReLU(), nn.Linear(FF, D))

    def forward(self, x, pad):
        x = x + self.attn(self.norm1(x), pad)
        return x + self.ff(self.norm2(x))


class RelPosTagger(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, D, padding_idx=PAD)
        self.blocks = nn.ModuleList(Block(bug) for _ in range(LAYERS))
        self.norm, self.head = nn.LayerNorm(D), nn.Linear(D, CLASSES)

    def forward(self, tokens):  # (B, T) -> (B, T, 10)
        pad = tokens == PAD
        x = self.embed(tokens)
        for block in self.blocks:
            x = block(x, pad)
        return self.head(self.norm(x))


class RelPosTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "relpos")
        g = torch.Generator().manual_seed(DATA_SEED)
        self.train, self.val = examples(N_TRAIN, g), examples(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        seqs = self.train[:n]
        model = RelPosTagger(self.bug)
        train_eval, val_eval = make_batch(seqs[:400]), make_batch(self.val)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (tokens, labels) in (("train", train_eval), ("val", val_eval)):
                    out.update(sequence_metrics(split, model(tokens), labels, IGNORE))
            return out

        def loss(model, b):
            return F.cross_entropy(model(b[0]).flatten(0, 1), b[1].flatten(), ignore_index=IGNORE)

        return Problem(model=model, train_size=n, get_batch=lambda idx: make_batch([seqs[i] for i in idx.tolist()]),
                       loss=loss, evaluate=evaluate, chance_loss=math.log(CLASSES),
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
