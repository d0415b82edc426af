"""Held-out-26 family 4: a decoder-only Transformer answering set-membership queries, attention written out by hand.

Each sequence lists a set of 4..8 distinct keys of 24, then SEP, then 3..6 queries each followed by its answer, YES
when the query is in the set and NO otherwise (a query is drawn from the set or from the other keys with even odds):
`k1 .. kn SEP q1 a1 q2 a2 ...` (ids: PAD 0, SEP 1, YES 2, NO 3, keys 4..27; 10..21 tokens). The model reads the
sequence but its last token causally; the target at each query is the next token (its answer), every other position
is ignored (-100). Torch seed 0: 3000 training and 500 validation sequences, right-padded to the batch's longest.
Model (d 64, 4 heads of 16, 2 pre-norm blocks, feed-forward 256, a final norm, every norm a LayerNorm written out):
token and position embeddings N(0, 0.02); attention written out: fused q/k/v, scores / sqrt(16), masked_fill(-inf)
where the key is later than the query or is padding, softmax over the keys, heads merged; a separate output layer.
Cross-entropy over the answer positions; Adam at 0.003. Tuple batches (tokens (B, L), targets (B, L)). Metrics: loss
and accuracy over the answer positions (train: the stage's first 400), val/exact (every answer of a sequence right).
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

BUGS = ("none", "norm_over_time", "masks_combined_with_or", "additive_mask_times_inf", "embedding_through_data")
PAD, SEP, YES, NO, KEY, KEYS = 0, 1, 2, 3, 4, 24
VOCAB = KEY + KEYS
D, HEADS, LAYERS, FF, MAX_L = 64, 4, 2, 256, 24
IGNORE = -100
N_TRAIN, N_VAL = 3000, 500


def draw(n: int, g: torch.Generator) -> list[tuple[torch.Tensor, torch.Tensor]]:
    out = []
    for _ in range(n):
        k = int(torch.randint(4, 9, (1,), generator=g))
        perm = (KEY + torch.randperm(KEYS, generator=g)).tolist()
        members, others = perm[:k], perm[k:]
        seq = members + [SEP]
        for _ in range(int(torch.randint(3, 7, (1,), generator=g))):
            inside = bool(torch.rand(1, generator=g) < 0.5)
            pool = members if inside else others
            seq += [pool[int(torch.randint(0, len(pool), (1,), generator=g))], YES if inside else NO]
        targets = [IGNORE] * (len(seq) - 1)
        for t in range(k + 1, len(seq) - 1, 2):
            targets[t] = seq[t + 1]
        out.append((torch.tensor(seq[:-1]), torch.tensor(targets)))
    return out


def collate(seqs: list) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s, _ in seqs)
    x, y = torch.full((len(seqs), width), PAD), torch.full((len(seqs), width), IGNORE)
    for i, (s, t) in enumerate(seqs):
        x[i, :len(s)], y[i, :len(t)] = s, t
    return x, y


class Norm(nn.Module):
    """LayerNorm written out."""

    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.weight, self.bias = nn.Parameter(torch.ones(D)), nn.Parameter(torch.zeros(D))

    def forward(self, x):  # (B, L, D)
        dim = 1 if self.bug == "norm_over_time" else -1  # BUG norm_over_time: statistics over dim 1 (positions)
        mu = x.mean(dim, keepdim=True)
        var = (x - mu).pow(2).mean(dim, keepdim=True)
        return (x - mu) / torch.sqrt(var + 1e-5) * self.weight + self.bias


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.norm1, self.norm2 = Norm(bug), Norm(bug)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.ff = nn.Sequential(nn.Linear(D, FF), nn.GELU(), nn.Linear(FF, D))

    def forward(self, x, allowed):  # (B, L, D), (B, L, L) bool: query i may read key j
        b, n, _ = x.shape
        q, k, v = (t.view(b, n, HEADS, D // HEADS).transpose(1, 2) for t in self.qkv(self.norm1(x)).chunk(3, -1))
        scores = q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)
        if self.bug == "additive_mask_times_inf":
            scores = scores + (~allowed[:, None]).float() * float("-inf")  # noqa: E501  BUG additive_mask_times_inf: an additive mask as (not allowed) x -inf
        else:
            scores = scores.masked_fill(~allowed[:, None], float("-inf"))
        x = x + self.proj((scores.softmax(-1) @ v).transpose(1, 2).reshape(b, n, D))
        return x + self.ff(self.norm2(x))


class MemberLM(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.tok, self.pos = nn.Embedding(VOCAB, D), nn.Embedding(MAX_L, D)
        nn.init.normal_(self.tok.weight, std=0.02)
        nn.init.normal_(self.pos.weight, std=0.02)
        self.blocks = nn.ModuleList([Block(bug) for _ in range(LAYERS)])
        self.norm = Norm(bug)
        self.head = nn.Linear(D, VOCAB)

    def forward(self, x):  # (B, L) -> (B, L, VOCAB)
        n = x.shape[1]
        causal = torch.tril(torch.ones(n, n, dtype=torch.bool, device=x.device))
        real = (x != PAD)[:, None, :]
        if self.bug == "masks_combined_with_or":
            allowed = causal[None] | real  # BUG masks_combined_with_or: | for &
        else:
            allowed = causal[None] & real
        if self.bug == "embedding_through_data":
            tokens = F.embedding(x, self.tok.weight.data)  # BUG embedding_through_data: the table read through .data
        else:
            tokens = self.tok(x)
        h = tokens + self.pos(torch.arange(n, device=x.device))[None]
        for block in self.blocks:
            h = block(h, allowed)
        return self.head(self.norm(h))


class MemberTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "memberlm")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        seqs = self.train[:n]
        model = MemberLM(self.bug)
        train_eval, val_eval = collate(seqs[:400]), collate(self.val)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (x, y) in (("train", train_eval), ("val", val_eval)):
                    x, y = on_device_of(model, x), on_device_of(model, y)
                    out.update(sequence_metrics(split, model(x), y, IGNORE))
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: collate([seqs[i] for i in idx.tolist()]),
                       loss=lambda model, b: F.cross_entropy(model(b[0]).flatten(0, 1), b[1].flatten(),
                                                             ignore_index=IGNORE),
                       evaluate=evaluate, chance_loss=math.log(VOCAB),
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
