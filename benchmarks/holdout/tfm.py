"""Held-out family 4: a small Transformer encoder classifier with a key-padding mask ("which token is the majority").

Variable-length sequences of symbols A/B/C padded to one fixed length; the label is the symbol that occurs
most often (lengths and counts are drawn so that it is unique). A CLS token first, hand-written pre-norm
blocks around nn.MultiheadAttention with `key_padding_mask`, and the class read from the CLS position: the
answer has to come through attention. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "mask_inverted", "embedding_data")
PAD, SYMBOLS, MIN_LEN, MAX_LEN = 0, 3, 5, 16
CLS = SYMBOLS + 1


def majority_data(n: int, seed: int) -> dict[str, torch.Tensor]:
    """n sequences of symbols 1..SYMBOLS with a unique most frequent symbol, and its index (0-based)."""
    g = torch.Generator().manual_seed(seed)
    tokens = torch.full((n, 1 + MAX_LEN), PAD)
    tokens[:, 0] = CLS
    labels = torch.empty(n, dtype=torch.long)
    i = 0
    while i < n:
        length = int(torch.randint(MIN_LEN, MAX_LEN + 1, (1,), generator=g))
        seq = torch.randint(1, SYMBOLS + 1, (length,), generator=g)
        counts = torch.bincount(seq, minlength=SYMBOLS + 1)[1:]
        if (counts == counts.max()).sum() > 1:
            continue  # a tie: no single answer
        tokens[i, 1:1 + length], labels[i] = seq, counts.argmax()
        i += 1
    return {"tokens": tokens, "labels": labels}


class Block(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x, pad):
        h = self.norm1(x)
        x = x + self.attn(h, h, h, key_padding_mask=pad, need_weights=False)[0]
        return x + self.ff(self.norm2(x))


class MajorityEncoder(nn.Module):
    def __init__(self, bug: str, dim: int = 32, heads: int = 4, layers: int = 2):
        super().__init__()
        self.bug = bug
        self.emb = nn.Embedding(SYMBOLS + 2, dim, padding_idx=PAD)
        self.pos = nn.Parameter(torch.randn(1 + MAX_LEN, dim) * 0.02)
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, SYMBOLS)

    def forward(self, tokens):
        if self.bug == "embedding_data":
            x = self.emb.weight.data[tokens] + self.pos  # BUG embedding_data: .data cuts the embedding's gradient
        else:
            x = self.emb(tokens) + self.pos
        pad = tokens == PAD  # True where a key is padding: attention ignores it
        if self.bug == "mask_inverted":
            pad = tokens != PAD  # BUG mask_inverted: "the mask marks the tokens to keep"
        for block in self.blocks:
            x = block(x, pad)
        return self.head(self.norm(x[:, 0]))  # the CLS position


class TfmTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none", n_train: int = 3000, n_val: int = 500):
        self.bug = check_bug(bug, BUGS, "tfm")
        self.train = majority_data(n_train, seed=0)
        self.val = majority_data(n_val, seed=1)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.train["tokens"]))
        train = {k: v[:n] for k, v in self.train.items()}
        model = MajorityEncoder(self.bug)

        def forward(model, batch):
            return model(batch["tokens"])

        def loss(model, batch):
            return F.cross_entropy(forward(model, batch), batch["labels"])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, data in (("train", train), ("val", self.val)):
                    logits = forward(model, data)
                    out[f"{split}/loss"] = F.cross_entropy(logits, data["labels"]).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == data["labels"]).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: {k: v[idx] for k, v in train.items()},
                       loss=loss, evaluate=evaluate, chance_loss=math.log(SYMBOLS), forward=forward,
                       targets=lambda batch: batch["labels"], extras={"y_val": self.val["labels"]})
