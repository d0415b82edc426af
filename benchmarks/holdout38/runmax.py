"""Held-out-38 family 4: a causal Transformer (decoder-only, attention written out) tagging each position of a
sequence of numbers with the running maximum so far, over left-padded batches.

A sequence: 3..16 numbers drawn uniformly from 0..15; the target at position t: max(x_1..x_t). Token ids PAD 0 and the
numbers 1..16; targets the classes 0..15, IGNORE (-100) at padding. Torch seed 0 draws 3000 training and 500
validation sequences. Dict batches {x (B, L), y (B, L)}, both left-padded (the padding before the sequence, as a
generating decoder pads a batch of prompts), in the order asked for. Model: d 64, 4 heads of 16, 2 pre-norm blocks with
a hand-written LayerNorm (over the features, eps inside the square root, learnt gain and bias); attention written out
(one Linear to q, k, v; scores / sqrt(16); a query may see a key at its own or an earlier position that is not padding,
and a padding query sees itself only (no fully masked row); -inf elsewhere; softmax over the keys), feed-forward 128
with GELU; token embeddings (padding_idx 0) plus learnt position embeddings indexed by the position among the real
tokens (the cumulative count of non-PAD tokens - 1; PAD rows take position 0); a final LayerNorm and Linear(64, 16).
Cross-entropy with the padding ignored; Adam at 0.002. Metrics: token loss and accuracy over the real positions (train:
the stage's first 400 sequences) and val/exact. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "targets_right_padded", "pad_mask_on_queries", "layernorm_over_time", "qkv_normal_default_std")
PAD, IGNORE, K = 0, -100, 16
D, HEADS, FF, LAYERS, MAXLEN = 64, 4, 128, 2, 16
N_TRAIN, N_VAL = 3000, 500


def draw(n: int, g: torch.Generator) -> list[tuple[list[int], list[int]]]:
    seqs = []
    for _ in range(n):
        s = torch.randint(0, K, (int(torch.randint(3, MAXLEN + 1, (1,), generator=g)),), generator=g)
        seqs.append(((s + 1).tolist(), s.cummax(0).values.tolist()))
    return seqs


def make_batch(seqs: list, bug: str = "none") -> dict:
    w = max(len(s) for s, _ in seqs)
    x, y = torch.full((len(seqs), w), PAD), torch.full((len(seqs), w), IGNORE)
    for i, (s, t) in enumerate(seqs):
        x[i, w - len(s):] = torch.tensor(s)
        if bug == "targets_right_padded":
            y[i, :len(t)] = torch.tensor(t)  # BUG targets_right_padded: the targets padded after, the inputs before
        else:
            y[i, w - len(t):] = torch.tensor(t)
    return {"x": x, "y": y}


class LayerNorm(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.gain, self.bias = nn.Parameter(torch.ones(D)), nn.Parameter(torch.zeros(D))

    def forward(self, h):  # (B, L, D)
        dim = 1 if self.bug == "layernorm_over_time" else -1  # BUG layernorm_over_time: statistics over the positions
        mu, var = h.mean(dim, keepdim=True), h.var(dim, keepdim=True, unbiased=False)
        return (h - mu) / (var + 1e-5).sqrt() * self.gain + self.bias


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.norm1, self.norm2 = LayerNorm(bug), LayerNorm(bug)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.ff1, self.ff2 = nn.Linear(D, FF), nn.Linear(FF, D)
        if bug == "qkv_normal_default_std":
            nn.init.normal_(self.qkv.weight)  # BUG qkv_normal_default_std: no std given, so std 1 (PyTorch's ~0.072)

    def forward(self, h, allowed):  # (B, L, D), (B, 1, L, L) True where a query may see a key
        b, w, _ = h.shape
        q, k, v = self.qkv(self.norm1(h)).view(b, w, 3, HEADS, D // HEADS).permute(2, 0, 3, 1, 4)
        scores = (q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)).masked_fill(~allowed, float("-inf"))
        h = h + self.proj((scores.softmax(-1) @ v).transpose(1, 2).reshape(b, w, D))
        return h + self.ff2(F.gelu(self.ff1(self.norm2(h))))


class RunMax(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.tok, self.pos = nn.Embedding(K + 1, D, padding_idx=PAD), nn.Embedding(MAXLEN, D)
        self.blocks = nn.ModuleList(Block(bug) for _ in range(LAYERS))
        self.norm, self.head = LayerNorm(bug), nn.Linear(D, K)

    def forward(self, x):  # (B, L) left-padded ids -> (B, L, K) logits
        w = x.shape[1]
        real = x != PAD
        pos = (real.long().cumsum(1) - 1).clamp(min=0)
        causal = torch.ones(w, w, dtype=torch.bool, device=x.device).tril()
        eye = torch.eye(w, dtype=torch.bool, device=x.device)
        if self.bug == "pad_mask_on_queries":
            allowed = causal & (real[:, :, None] | eye)  # BUG pad_mask_on_queries: the padding mask on the wrong axis
        else:
            allowed = causal & (real[:, None, :] | eye)
        h = self.tok(x) + self.pos(pos)
        for block in self.blocks:
            h = block(h, allowed[:, None])
        return self.head(self.norm(h))


class RunMaxTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "runmax")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        seqs = self.train[:n]
        model = RunMax(self.bug)
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
