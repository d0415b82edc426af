"""Held-out-33 family 4: a causal Transformer language model enciphering a word with a shift cipher whose key is
the sequence's second token (`BOS k2 a c f SEP c e b`: each letter moved k places, modulo 6), LEFT-padded batches.

A key 0..5, a word of 3..6 letters of 6 (repeats allowed); the sequence is BOS, the key, the word, SEP, the word
shifted (9..15 tokens). Ids: PAD 0, BOS 1, SEP 2, keys 3..8, letters 9..14. Torch seed 0: 3000 training and 500
validation sequences. Batches are left-padded token tensors (B, L); the model reads tokens[:, :-1] and is scored on
tokens[:, 1:] at the positions after SEP only (the others, and padding, are PAD in the target and ignored). Model: d
64, 4 heads, 2 pre-norm blocks, a hand-written LayerNorm (over the features, learnt gain and bias, eps 1e-5),
attention written out (one bias-free Linear to q, k, v; scores / sqrt(16); a causal mask and a key padding mask,
each position allowed to see itself, filled with -inf; softmax over the keys), feed-forward 128, learnt positions
counted from the first real token; cross-entropy; Adam at 0.001. Tuple batches (inputs, targets). Metrics: loss and
accuracy over the scored positions (train: the stage's first 400 sequences), val/exact. Each bug is one line, marked
`# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "pad_mask_without_self", "causal_mask_transposed", "norm_over_positions", "head_std3",
        "dropout_in_eval")
PAD, BOS, SEP, KEY, LETTER, LETTERS = 0, 1, 2, 3, 9, 6
V = LETTER + LETTERS
D, HEADS, LAYERS, FF, MAX_L = 64, 4, 2, 128, 16
N_TRAIN, N_VAL = 3000, 500


def draw(n: int, g: torch.Generator) -> list[list[int]]:
    out = []
    for _ in range(n):
        k = int(torch.randint(0, LETTERS, (1,), generator=g))
        word = torch.randint(0, LETTERS, (int(torch.randint(3, 7, (1,), generator=g)),), generator=g)
        out.append([BOS, KEY + k] + (word + LETTER).tolist() + [SEP] + ((word + k) % LETTERS + LETTER).tolist())
    return out


def collate(seqs: list) -> tuple[torch.Tensor, torch.Tensor]:
    w = max(len(s) for s in seqs)
    tok, tgt = torch.full((len(seqs), w), PAD), torch.full((len(seqs), w), PAD)
    for i, s in enumerate(seqs):
        tok[i, w - len(s):] = torch.tensor(s)
        sep = w - len(s) + s.index(SEP)
        tgt[i, sep + 1:] = tok[i, sep + 1:]
    return tok[:, :-1], tgt[:, 1:]


class LayerNorm(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.gain, self.bias = nn.Parameter(torch.ones(D)), nn.Parameter(torch.zeros(D))

    def forward(self, x):  # (B, L, D)
        dim = 1 if self.bug == "norm_over_positions" else -1  # BUG norm_over_positions: statistics over dim 1 (time)
        mu, var = x.mean(dim, keepdim=True), x.var(dim, keepdim=True, unbiased=False)
        return (x - mu) / (var + 1e-5).sqrt() * self.gain + self.bias


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.norm1, self.norm2 = LayerNorm(bug), LayerNorm(bug)
        self.qkv, self.proj = nn.Linear(D, 3 * D, bias=False), nn.Linear(D, D)
        self.ff1, self.ff2 = nn.Linear(D, FF), nn.Linear(FF, D)

    def forward(self, x, allowed):  # (B, L, D), (B, L, L) True where a query may see a key
        b, l, _ = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, l, 3, HEADS, D // HEADS).permute(2, 0, 3, 1, 4)
        scores = (q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)).masked_fill(~allowed[:, None], float("-inf"))
        x = x + self.proj((scores.softmax(-1) @ v).transpose(1, 2).reshape(b, l, D))
        h = F.relu(self.ff1(self.norm2(x)))
        if self.bug == "dropout_in_eval":
            h = F.dropout(h, 0.1)  # BUG dropout_in_eval: F.dropout's training=True default, on in eval() too
        return x + self.ff2(h)


class ShiftLM(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.tok, self.pos = nn.Embedding(V, D, padding_idx=PAD), nn.Embedding(MAX_L, D)
        self.blocks = nn.ModuleList(Block(bug) for _ in range(LAYERS))
        self.norm, self.head = LayerNorm(bug), nn.Linear(D, V)
        if bug == "head_std3":
            nn.init.normal_(self.head.weight, std=3.0)  # BUG head_std3: std 3 instead of U(-1/8, 1/8) (std 0.072)

    def forward(self, tok):  # (B, L) -> (B, L, V)
        real = tok != PAD
        pos = (real.long().cumsum(1) - 1).clamp(min=0)
        l = tok.shape[1]
        if self.bug == "causal_mask_transposed":
            causal = torch.ones(l, l, dtype=torch.bool, device=tok.device).triu()  # BUG causal_mask_transposed: triu
        else:
            causal = torch.ones(l, l, dtype=torch.bool, device=tok.device).tril()
        eye = torch.eye(l, dtype=torch.bool, device=tok.device)
        if self.bug == "pad_mask_without_self":
            allowed = causal[None] & real[:, None, :]  # BUG pad_mask_without_self: a padding query sees no key
        else:
            allowed = causal[None] & (real[:, None, :] | eye[None])
        x = self.tok(tok) + self.pos(pos)
        for block in self.blocks:
            x = block(x, allowed)
        return self.head(self.norm(x))


class ShiftLMTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "shiftlm")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        seqs = self.train[:n]
        model = ShiftLM(self.bug)
        train_eval, val_eval = collate(seqs[:400]), collate(self.val)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (xs, ys) in (("train", train_eval), ("val", val_eval)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    out.update(sequence_metrics(split, model(xs), ys, PAD))
            return out

        def loss(model, b):
            return F.cross_entropy(model(b[0]).flatten(0, 1), b[1].flatten(), ignore_index=PAD)

        return Problem(model=model, train_size=n, get_batch=lambda idx: collate([seqs[i] for i in idx.tolist()]),
                       loss=loss, evaluate=evaluate, chance_loss=math.log(LETTERS),
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
