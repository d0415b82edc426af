"""Held-out-42 family 4: a Transformer encoder (hand-written attention with a key padding mask, masked mean pooling)
that names the letter standing at the position a leading index token asks for (`3 g a c e b` -> `e`), over right-padded
dict batches.

A sequence: an index token p ~ U{0..7}, then n ~ U{max(4, p + 1)..10} letters of eight (uniform); the class is the
letter at place p among them (8 classes). Ids: PAD 0, the index tokens 1..8, the letters 9..16. Torch seed 0 draws 3000
training and 500 validation sequences. Dict batches {src (B, L), labels (B,)}, right-padded, in the order asked for.
Model: token embeddings of 64 (padding_idx 0) plus a learnt position table (1, 11, 64) initialised N(0, 0.02²); 2
pre-norm blocks (nn.LayerNorm; one Linear to q, k, v, 4 heads of 16, scores / 4, PAD keys (the positions at or
beyond the sequence's length) -inf, softmax over the keys;
feed-forward 128 with GELU); a final LayerNorm; the mean over the real (non-PAD) positions; Linear(64, 8).
Cross-entropy; Adam at 0.002. Metrics: loss and accuracy on the stage's first 500 sequences and on validation. Each
bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "pad_to_shortest", "key_mask_inverted", "mask_hides_last_token", "normal_mean_not_std",
        "pos_table_frozen_zeros")
PAD, LETTERS, MAX_N = 0, 8, 10
V, D, HEADS, FF, LAYERS, MAX_L = 1 + 8 + LETTERS, 64, 4, 128, 2, MAX_N + 1
N_TRAIN, N_VAL = 3000, 500


def draw(n: int, g: torch.Generator) -> list[tuple[list[int], int]]:
    out = []
    for _ in range(n):
        p = int(torch.randint(0, 8, (1,), generator=g))
        k = int(torch.randint(max(4, p + 1), MAX_N + 1, (1,), generator=g))
        letters = torch.randint(0, LETTERS, (k,), generator=g).tolist()
        out.append(([1 + p] + [9 + c for c in letters], letters[p]))
    return out


def make_batch(examples: list, bug: str = "none") -> dict:
    if bug == "pad_to_shortest":
        w = min(len(s) for s, _ in examples)  # BUG pad_to_shortest: min where max was meant
    else:
        w = max(len(s) for s, _ in examples)
    src = torch.full((len(examples), w), PAD)
    for i, (s, _) in enumerate(examples):
        src[i, :min(len(s), w)] = torch.tensor(s[:w])
    return {"src": src, "labels": torch.tensor([c for _, c in examples])}


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.norm1, self.norm2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.ff1, self.ff2 = nn.Linear(D, FF), nn.Linear(FF, D)
        if bug == "normal_mean_not_std":
            [nn.init.normal_(m.weight, 0.02) for m in (self.qkv, self.proj, self.ff1, self.ff2)]  # BUG normal_mean_not_std: 0.02 is the mean; std stays 1

    def forward(self, h, pad):  # (B, L, D), (B, L) True at PAD
        b, w, _ = h.shape
        q, k, v = self.qkv(self.norm1(h)).view(b, w, 3, HEADS, D // HEADS).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)  # (B, heads, L, L)
        if self.bug == "key_mask_inverted":
            scores = scores.masked_fill(~pad[:, None, None, :], float("-inf"))  # BUG key_mask_inverted: keeps only PAD keys
        else:
            scores = scores.masked_fill(pad[:, None, None, :], float("-inf"))
        h = h + self.proj((scores.softmax(-1) @ v).transpose(1, 2).reshape(b, w, D))
        return h + self.ff2(F.gelu(self.ff1(self.norm2(h))))


class PickPos(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.tok = nn.Embedding(V, D, padding_idx=PAD)
        if bug == "pos_table_frozen_zeros":
            self.pos = nn.Parameter(torch.zeros(1, MAX_L, D), requires_grad=False)  # BUG pos_table_frozen_zeros: a fixed table never filled
        else:
            self.pos = nn.Parameter(0.02 * torch.randn(1, MAX_L, D))
        self.blocks = nn.ModuleList(Block(bug) for _ in range(LAYERS))
        self.norm, self.head = nn.LayerNorm(D), nn.Linear(D, LETTERS)

    def forward(self, src):  # (B, L) right-padded ids -> (B, 8) logits
        lengths = (src != PAD).sum(1, keepdim=True)
        if self.bug == "mask_hides_last_token":
            pad = torch.arange(src.shape[1], device=src.device)[None] >= lengths - 1  # BUG mask_hides_last_token: an index taken for a length
        else:
            pad = torch.arange(src.shape[1], device=src.device)[None] >= lengths
        h = self.tok(src) + self.pos[:, :src.shape[1]]
        for block in self.blocks:
            h = block(h, pad)
        real = (~pad).unsqueeze(-1).float()
        return self.head((self.norm(h) * real).sum(1) / real.sum(1))


class PickPosTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "pickpos")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        examples = self.train[:n]
        model = PickPos(self.bug)
        train_eval, val_eval = make_batch(examples[:500]), make_batch(self.val)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    b = on_device_of(model, b)
                    logits = model(b["src"])
                    out[f"{split}/loss"] = F.cross_entropy(logits, b["labels"]).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == b["labels"]).float().mean().item()
            return out

        def loss(model, b):
            return F.cross_entropy(model(b["src"]), b["labels"])

        return Problem(model=model, train_size=n,
                       get_batch=lambda idx: make_batch([examples[i] for i in idx.tolist()], self.bug),
                       loss=loss, evaluate=evaluate, chance_loss=math.log(LETTERS),
                       forward=lambda model, b: model(b["src"]), targets=lambda b: b["labels"])
