"""Held-out-34 family 4: a bidirectional Transformer encoder naming the most frequent letter of a sequence, read
from a [CLS] token, over right-padded batches.

A sequence: 6..24 letters of 6; one letter (the class) is drawn with weight 0.35 and the other five with 0.13 each,
and sequences whose most frequent letter is not unique are drawn again. Ids: PAD 0, CLS 1, letters 2..7; the input
is CLS then the letters, right-padded. Torch seed 0 draws 3000 training and 500 validation sequences. Model: d 64,
4 heads, 2 pre-norm blocks (nn.LayerNorm), attention written out (one bias-free Linear to q, k, v; scores divided by
a learnt per-head temperature initialised at sqrt(16); a key padding mask, -inf on PAD keys; softmax over the keys),
feed-forward 128, learnt positions; a final LayerNorm and Linear(64, 6) on the CLS position. Cross-entropy; Adam at
0.001. Tuple batches (tokens (B, L), class (B,)). Metrics: loss and accuracy on the stage's sequences (at most 1000)
and on validation; extras y_val. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "mask_on_queries", "pad_mask_off_by_one", "label_smoothing_09", "attn_branch_detached",
        "temperature_zero_init")
PAD, CLS, LETTER, LETTERS = 0, 1, 2, 6
V = LETTER + LETTERS
D, HEADS, LAYERS, FF, MAX_L = 64, 4, 2, 128, 25
N_TRAIN, N_VAL = 3000, 500


def draw(n: int, g: torch.Generator) -> tuple[list[list[int]], torch.Tensor]:
    seqs, labels = [], []
    while len(seqs) < n:
        cls = int(torch.randint(0, LETTERS, (1,), generator=g))
        w = torch.full((LETTERS,), 0.13)
        w[cls] = 0.35
        letters = torch.multinomial(w, int(torch.randint(6, 25, (1,), generator=g)), True, generator=g)
        counts = torch.bincount(letters, minlength=LETTERS)
        if (counts == counts.max()).sum() > 1:
            continue
        seqs.append([CLS] + (letters + LETTER).tolist())
        labels.append(int(counts.argmax()))
    return seqs, torch.tensor(labels)


def collate(seqs: list) -> torch.Tensor:
    tok = torch.full((len(seqs), max(len(s) for s in seqs)), PAD)
    for i, s in enumerate(seqs):
        tok[i, :len(s)] = torch.tensor(s)
    return tok


class Block(nn.Module):
    def __init__(self, bug: str, index: int):
        super().__init__()
        self.bug, self.index = bug, index
        self.norm1, self.norm2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.qkv, self.proj = nn.Linear(D, 3 * D, bias=False), nn.Linear(D, D)
        self.ff1, self.ff2 = nn.Linear(D, FF), nn.Linear(FF, D)
        if bug == "temperature_zero_init":
            self.tau = nn.Parameter(torch.zeros(HEADS, 1, 1))  # BUG temperature_zero_init: zeros, not sqrt(16)
        else:
            self.tau = nn.Parameter(torch.full((HEADS, 1, 1), math.sqrt(D // HEADS)))

    def forward(self, x, real):  # (B, L, D), (B, L) True at the real keys
        b, l, _ = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, l, 3, HEADS, D // HEADS).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / self.tau  # (B, heads, L, L)
        if self.bug == "mask_on_queries":
            scores = scores.masked_fill(~real[:, None, :, None], float("-inf"))  # BUG mask_on_queries: rows, not keys
        else:
            scores = scores.masked_fill(~real[:, None, None, :], float("-inf"))
        attn = self.proj((scores.softmax(-1) @ v).transpose(1, 2).reshape(b, l, D))
        if self.bug == "attn_branch_detached" and self.index == 0:
            attn = attn.detach()  # BUG attn_branch_detached: the first block's attention cut from the gradient
        x = x + attn
        return x + self.ff2(F.relu(self.ff1(self.norm2(x))))


class MajorityEncoder(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.tok, self.pos = nn.Embedding(V, D, padding_idx=PAD), nn.Embedding(MAX_L, D)
        self.blocks = nn.ModuleList(Block(bug, i) for i in range(LAYERS))
        self.norm, self.head = nn.LayerNorm(D), nn.Linear(D, LETTERS)

    def forward(self, tok):  # (B, L) -> (B, LETTERS)
        if self.bug == "pad_mask_off_by_one":
            real = F.pad(tok[:, 1:] != PAD, (0, 1), value=True)  # BUG pad_mask_off_by_one: CLS's True at the end
        else:
            real = F.pad(tok[:, 1:] != PAD, (1, 0), value=True)  # CLS, then the letters' own mask
        x = self.tok(tok) + self.pos(torch.arange(tok.shape[1], device=tok.device))
        for block in self.blocks:
            x = block(x, real)
        return self.head(self.norm(x[:, 0]))


class MajorityTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "majority")
        g = torch.Generator().manual_seed(0)
        (self.train, self.y_train), (self.val, self.y_val) = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        seqs, y = self.train[:n], self.y_train[:n]
        model = MajorityEncoder(self.bug)
        train_eval, val_eval = (collate(seqs[:1000]), y[:1000]), (collate(self.val), self.y_val)

        def loss(model, b):
            if self.bug == "label_smoothing_09":
                return F.cross_entropy(model(b[0]), b[1], label_smoothing=0.9)  # BUG label_smoothing_09: 0.9, not 0.1
            return F.cross_entropy(model(b[0]), b[1], label_smoothing=0.1)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (xs, ys) in (("train", train_eval), ("val", val_eval)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    logits = model(xs)
                    out[f"{split}/loss"] = F.cross_entropy(logits, ys).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (collate([seqs[i] for i in idx.tolist()]),
                                                                         y[idx]),
                       loss=loss, evaluate=evaluate, chance_loss=math.log(LETTERS), extras={"y_val": self.y_val},
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
