"""Held-out-24 family 4: a decoder-only Transformer doing multi-query associative recall, causal and padding masks.

Each sequence lists n = 2..6 facts, each one token standing for a pair (key, value) of 8 keys (distinct within the
sequence) and 8 values, then SEP, then the n keys asked in a random order, each query token followed by its answer
token: f_1 .. f_n SEP q_1 a_1 .. q_n a_n (7..19 tokens; ids: PAD 0, SEP 1, facts 2..65, queries 66..73, answers
74..81). The model reads the sequence causally; the target at each query's position is the next token, its answer
(the value the facts gave that key); every other position is ignored (-100). Torch seed 0: 3000 training and 400
validation sequences, right-padded to the batch's longest. Model (d 64, 4 heads of 16, 2 post-LN blocks as in
Vaswani et al. 2017, feed-forward 128): token embeddings (nn.Embedding's N(0, 1)) scaled by sqrt(64) plus learned
position embeddings; attention written out: fused q/k/v, scores / sqrt(16), masked_fill(-inf) where the key is later
than the query or is padding (a padding query may read itself, so no row is fully masked), softmax, heads merged; a
linear head over the 82 tokens. Loss: cross-entropy over the query positions. Adam at 0.001. Tuple batches
(tokens (B, L), targets (B, L)). Metrics: loss and accuracy over the query positions (train: the stage's first 400),
val/exact (every answer of a sequence right). Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "softmax_by_hand", "padding_rows_masked_too", "causal_comparison_reversed", "label_smoothing_0.9")
PAD, SEP, FACT, QUERY, ANSWER, VOCAB = 0, 1, 2, 66, 74, 82
KEYS = VALUES = 8
D, HEADS, LAYERS, FF, MAX_L = 64, 4, 2, 128, 19
IGNORE = -100
N_TRAIN, N_VAL = 3000, 400


def draw(n: int, g: torch.Generator) -> list[tuple[torch.Tensor, torch.Tensor]]:
    out = []
    for _ in range(n):
        k = int(torch.randint(2, 7, (1,), generator=g))
        keys = torch.randperm(KEYS, generator=g)[:k]
        values = torch.randint(0, VALUES, (k,), generator=g)
        asked = torch.randperm(k, generator=g)
        tokens = [FACT + int(a) * VALUES + int(b) for a, b in zip(keys, values)] + [SEP]
        targets = [IGNORE] * (k + 1)
        for j in asked.tolist():
            tokens += [QUERY + int(keys[j]), ANSWER + int(values[j])]
            targets += [ANSWER + int(values[j]), IGNORE]
        out.append((torch.tensor(tokens), torch.tensor(targets)))
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
        q, k, v = (t.view(b, n, HEADS, D // HEADS).transpose(1, 2) for t in self.qkv(x).chunk(3, -1))
        scores = (q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)).masked_fill(~allowed[:, None], float("-inf"))
        if self.bug == "softmax_by_hand":
            weights = scores.exp() / scores.exp().sum(-1, keepdim=True)  # noqa: E501  BUG softmax_by_hand: exp / sum, no max subtracted
        else:
            weights = scores.softmax(-1)
        out = (weights @ v).transpose(1, 2).reshape(b, n, D)
        x = self.norm1(x + self.proj(out))
        return self.norm2(x + self.ff(x))


class RecallDecoder(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.tok, self.pos = nn.Embedding(VOCAB, D), nn.Embedding(MAX_L, D)
        self.blocks = nn.ModuleList([Block(bug) for _ in range(LAYERS)])
        self.head = nn.Linear(D, VOCAB)

    def forward(self, x):  # (B, L) -> (B, L, VOCAB)
        n = x.shape[1]
        i = torch.arange(n, device=x.device)
        real = x != PAD
        if self.bug == "causal_comparison_reversed":
            causal = i[None, :] >= i[:, None]  # BUG causal_comparison_reversed: key j allowed when j >= i
        else:
            causal = i[None, :] <= i[:, None]
        if self.bug == "padding_rows_masked_too":
            allowed = causal[None] & real[:, None, :] & real[:, :, None]  # noqa: E501  BUG padding_rows_masked_too: padding queries see no key
        else:
            allowed = causal[None] & (real[:, None, :] | torch.eye(n, dtype=torch.bool, device=x.device))
        h = self.tok(x) * math.sqrt(D) + self.pos(i)[None]
        for block in self.blocks:
            h = block(h, allowed)
        return self.head(h)


class RecallTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "recall")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        seqs = self.train[:n]
        model = RecallDecoder(self.bug)
        train_eval, val_eval = collate(seqs[:400]), collate(self.val)
        smoothing = 0.9 if self.bug == "label_smoothing_0.9" else 0.1  # BUG label_smoothing_0.9: 0.9 typed for 0.1

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (x, y) in (("train", train_eval), ("val", val_eval)):
                    x, y = on_device_of(model, x), on_device_of(model, y)
                    out.update(sequence_metrics(split, model(x), y, IGNORE))
            return out

        def loss(model, b):
            return F.cross_entropy(model(b[0]).flatten(0, 1), b[1].flatten(), ignore_index=IGNORE,
                                   label_smoothing=smoothing)

        return Problem(model=model, train_size=n, get_batch=lambda idx: collate([seqs[i] for i in idx.tolist()]),
                       loss=loss, evaluate=evaluate, chance_loss=math.log(VOCAB),
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
