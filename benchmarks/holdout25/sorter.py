"""Held-out-25 family 4: a decoder-only pre-LN Transformer that sorts, attention written out with causal and padding masks.

Each sequence holds n = 3..7 distinct values of 16, then SEP, then the same values in increasing order, then EOS
(ids: PAD 0, SEP 1, EOS 2, values 3..18; 8..16 tokens). The model reads the sequence but its last token causally;
the target at SEP and at each sorted value is the next token (the next sorted value, or EOS); the positions of the
unsorted values are ignored (-100). Torch seed 0: 3000 training and 500 validation sequences, right-padded to the
batch's longest. Model (d 64, 4 heads of 16, 2 pre-LN blocks, feed-forward 256, a final LayerNorm): token and
position embeddings N(0, 0.02) (GPT-2), the output layer tied to the token embedding; attention written out: fused
q/k/v, scores / sqrt(16), masked_fill(-inf) where the key is later than the query or is padding, a softmax written
out (the row max subtracted, exp, divided by the row sum), heads merged. Cross-entropy over the target positions;
Adam at 0.001. Tuple batches (tokens (B, L), targets (B, L)). Metrics: loss and accuracy over the target positions
(train: the stage's first 400), val/exact (every sorted token and EOS right, teacher forced). Each bug is one line,
marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "softmax_sum_over_queries", "causal_mask_without_diagonal", "tied_head_default_init",
        "loss_flattened_time_major")
PAD, SEP, EOS, VALUE, VALUES = 0, 1, 2, 3, 16
VOCAB = VALUE + VALUES
D, HEADS, LAYERS, FF, MAX_L = 64, 4, 2, 256, 16
IGNORE = -100
N_TRAIN, N_VAL = 3000, 500


def draw(n: int, g: torch.Generator) -> list[tuple[torch.Tensor, torch.Tensor]]:
    out = []
    for _ in range(n):
        k = int(torch.randint(3, 8, (1,), generator=g))
        values = (VALUE + torch.randperm(VALUES, generator=g)[:k]).tolist()
        seq = values + [SEP] + sorted(values) + [EOS]
        targets = [IGNORE] * k + seq[k + 1:]
        out.append((torch.tensor(seq[:-1]), torch.tensor(targets)))
    return out


def collate(seqs: list) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s, _ in seqs)
    x, y = torch.full((len(seqs), width), PAD), torch.full((len(seqs), width), IGNORE)
    for i, (s, t) in enumerate(seqs):
        x[i, :len(s)], y[i, :len(t)] = s, t
    return x, y


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.norm1, self.norm2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.ff = nn.Sequential(nn.Linear(D, FF), nn.GELU(), nn.Linear(FF, D))

    def forward(self, x, allowed):  # (B, L, D), (B, L, L) bool: query i may read key j
        b, n, _ = x.shape
        q, k, v = (t.view(b, n, HEADS, D // HEADS).transpose(1, 2) for t in self.qkv(self.norm1(x)).chunk(3, -1))
        scores = (q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)).masked_fill(~allowed[:, None], float("-inf"))
        e = (scores - scores.amax(-1, keepdim=True)).exp()
        if self.bug == "softmax_sum_over_queries":
            weights = e / e.sum(-2, keepdim=True)  # BUG softmax_sum_over_queries: normalised over dim -2
        else:
            weights = e / e.sum(-1, keepdim=True)
        x = x + self.proj((weights @ v).transpose(1, 2).reshape(b, n, D))
        return x + self.ff(self.norm2(x))


class Sorter(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.tok, self.pos = nn.Embedding(VOCAB, D), nn.Embedding(MAX_L, D)
        if bug != "tied_head_default_init":  # BUG tied_head_default_init: (the line skipped) embeddings stay N(0, 1)
            nn.init.normal_(self.tok.weight, std=0.02)
        nn.init.normal_(self.pos.weight, std=0.02)
        self.blocks = nn.ModuleList([Block(bug) for _ in range(LAYERS)])
        self.norm = nn.LayerNorm(D)
        self.head = nn.Linear(D, VOCAB, bias=False)
        self.head.weight = self.tok.weight

    def forward(self, x):  # (B, L) -> (B, L, VOCAB)
        n = x.shape[1]
        i = torch.arange(n, device=x.device)
        if self.bug == "causal_mask_without_diagonal":
            causal = torch.tril(torch.ones(n, n, dtype=torch.bool, device=x.device), diagonal=-1)  # noqa: E501  BUG causal_mask_without_diagonal: diagonal=-1, a token may not read itself
        else:
            causal = torch.tril(torch.ones(n, n, dtype=torch.bool, device=x.device))
        allowed = causal[None] & (x != PAD)[:, None, :]
        h = self.tok(x) + self.pos(i)[None]
        for block in self.blocks:
            h = block(h, allowed)
        return self.head(self.norm(h))


class SorterTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "sorter")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        seqs = self.train[:n]
        model = Sorter(self.bug)
        train_eval, val_eval = collate(seqs[:400]), collate(self.val)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (x, y) in (("train", train_eval), ("val", val_eval)):
                    x, y = on_device_of(model, x), on_device_of(model, y)
                    out.update(sequence_metrics(split, model(x), y, IGNORE))
            return out

        def loss(model, b):
            logits = model(b[0])
            if self.bug == "loss_flattened_time_major":
                logits = logits.transpose(0, 1)  # BUG loss_flattened_time_major: flattened as if time-major
            return F.cross_entropy(logits.reshape(-1, VOCAB), b[1].reshape(-1), ignore_index=IGNORE)

        return Problem(model=model, train_size=n, get_batch=lambda idx: collate([seqs[i] for i in idx.tolist()]),
                       loss=loss, evaluate=evaluate, chance_loss=math.log(VOCAB),
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
