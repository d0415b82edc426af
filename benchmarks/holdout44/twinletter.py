"""Held-out-44 family 4: a Transformer encoder classifier (attention written out, a key-padding mask, a CLS token)
naming the one letter that occurs twice in a string of otherwise distinct letters, over right-padded dict batches.

A string: 3..8 distinct letters of twelve, plus a second copy of one of them inserted at a random place (4..9
letters); the class: the doubled letter (12 classes). Ids: PAD 0, CLS 1, the letters 2..13; a sequence is CLS then
the string, right-padded to the batch's longest (at most 10 tokens). Torch seed 0 draws 3000 training and 600
validation strings. Model: token embeddings of 64 plus learnt positions (16); two pre-norm blocks (4 heads of 16,
scores / 4, PAD keys at -inf; GELU feed-forward 128); a final LayerNorm; Linear(64, 12) on the CLS position.
Cross-entropy; Adam at 0.001. Dict batches {tokens (B, L), label (B,)}. Metrics: loss and accuracy on the stage's
first 500 strings and on validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "truncated_to_8", "key_mask_on_queries", "causal_mask_copied", "qkv_normal_std1")
PAD, CLS, LETTERS, V = 0, 1, 12, 14
MIN_K, MAX_K, D, HEADS, FF, MAX_POS = 3, 8, 64, 4, 128, 16
N_TRAIN, N_VAL = 3000, 600


def draw(n: int, g: torch.Generator) -> tuple[list[list[int]], torch.Tensor]:
    strings, labels = [], []
    for _ in range(n):
        k = int(torch.randint(MIN_K, MAX_K + 1, (1,), generator=g))
        letters = (torch.randperm(LETTERS, generator=g)[:k] + 2).tolist()
        twin = letters[int(torch.randint(0, k, (1,), generator=g))]
        at = int(torch.randint(0, k + 1, (1,), generator=g))
        strings.append(letters[:at] + [twin] + letters[at:])
        labels.append(twin - 2)
    return strings, torch.tensor(labels)


def make_batch(strings: list, labels: torch.Tensor, bug: str = "none") -> dict:
    width = max(len(s) for s in strings) + 1
    tokens = torch.full((len(strings), width), PAD)
    for i, s in enumerate(strings):
        tokens[i, :len(s) + 1] = torch.tensor([CLS] + s)
    if bug == "truncated_to_8":
        tokens = tokens[:, :8]  # BUG truncated_to_8: max_length 8 cuts the longest strings' last letters
    return {"tokens": tokens, "label": labels}


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.n1, self.n2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.ff = nn.Sequential(nn.Linear(D, FF), nn.GELU(), nn.Linear(FF, D))
        if bug == "qkv_normal_std1":
            nn.init.normal_(self.qkv.weight, 0.0, 1.0)  # BUG qkv_normal_std1: std 1 where ~1/sqrt(64) was meant

    def forward(self, x, blocked):  # (B, L, D), True where a query may not read a key
        b, l, _ = x.shape
        q, k, v = (t.view(b, l, HEADS, D // HEADS).transpose(1, 2) for t in self.qkv(self.n1(x)).chunk(3, -1))
        s = (q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)).masked_fill(blocked, float("-inf"))
        x = x + self.proj((s.softmax(-1) @ v).transpose(1, 2).reshape(b, l, D))
        return x + self.ff(self.n2(x))


class TwinLetterEncoder(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.emb, self.pos = nn.Embedding(V, D), nn.Embedding(MAX_POS, D)
        self.blocks = nn.ModuleList(Block(bug) for _ in range(2))
        self.norm, self.head = nn.LayerNorm(D), nn.Linear(D, LETTERS)

    def forward(self, tokens):  # (B, L) -> (B, 12) logits
        b, l = tokens.shape
        pad = tokens == PAD
        h = self.emb(tokens) + self.pos(torch.arange(l, device=tokens.device))
        if self.bug == "key_mask_on_queries":
            blocked = pad[:, None, :, None]  # BUG key_mask_on_queries: (B, 1, L, 1) blanks PAD queries' rows, keys stay visible
        elif self.bug == "causal_mask_copied":
            blocked = pad[:, None, None, :] | torch.ones(l, l, dtype=torch.bool, device=tokens.device).triu(1)  # BUG causal_mask_copied: a decoder's causal mask, CLS sees only itself
        else:
            blocked = pad[:, None, None, :]
        for block in self.blocks:
            h = block(h, blocked)
        return self.head(self.norm(h)[:, 0])


class TwinLetterTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "twinletter")
        g = torch.Generator().manual_seed(0)
        (self.train, self.y_train), (self.val, self.y_val) = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        strings, labels = self.train[:n], self.y_train[:n]
        model = TwinLetterEncoder(self.bug)
        bug = self.bug
        train_eval, val_eval = make_batch(strings[:500], labels[:500], bug), make_batch(self.val, self.y_val, bug)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    b = on_device_of(model, b)
                    logits = model(b["tokens"])
                    out[f"{split}/loss"] = F.cross_entropy(logits, b["label"]).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == b["label"]).float().mean().item()
            return out

        def loss(model, b):
            return F.cross_entropy(model(b["tokens"]), b["label"])

        return Problem(model=model, train_size=n,
                       get_batch=lambda idx: make_batch([strings[i] for i in idx.tolist()], labels[idx], bug),
                       loss=loss, evaluate=evaluate, chance_loss=math.log(LETTERS),
                       forward=lambda model, b: model(b["tokens"]), targets=lambda b: b["label"],
                       extras={"y_val": self.y_val})
