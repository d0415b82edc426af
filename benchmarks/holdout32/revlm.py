"""Held-out-32 family 4: a causal Transformer language model writing a word backwards after a separator
(`BOS c a d b SEP b d a c`), LEFT-padded batches.

A word is 3..6 letters of 8 (repeats allowed); the sequence is BOS, the word, SEP, the word reversed (9..15 tokens).
Ids: PAD 0, BOS 1, SEP 2, letters 3..10. Torch seed 0: 3000 training and 500 validation sequences. Batches are
left-padded token tensors (B, L); the model reads tokens[:, :-1] and is scored on tokens[:, 1:] at the positions
after SEP only (the others, and padding, are PAD in the target and ignored). Model: d 64, 4 heads, 2 pre-norm blocks,
attention written out (one bias-free Linear to q, k, v; scores / sqrt(16); a causal mask and a key padding mask
(each position may see itself), -inf, softmax over the keys), nn.LayerNorm, feed-forward 128, learnt positions
counted from the first real token; cross-entropy; Adam at 0.001. Tuple batches (inputs, targets). Metrics: loss
and accuracy over the scored positions (train: the stage's first 400 sequences), val/exact. Each bug is one line,
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

BUGS = ("none", "pad_mask_dropped", "future_masked_with_zero", "train_copies_not_reverses", "qkv_zeroed",
        "log_softmax_over_positions")
PAD, BOS, SEP, LETTERS = 0, 1, 2, 8
V = 3 + LETTERS
D, HEADS, LAYERS, FF, MAX_L = 64, 4, 2, 128, 16
N_TRAIN, N_VAL = 3000, 500


def draw(n: int, g: torch.Generator, reverse: bool = True) -> list[list[int]]:
    out = []
    for _ in range(n):
        word = (torch.randint(0, LETTERS, (int(torch.randint(3, 7, (1,), generator=g)),), generator=g) + 3).tolist()
        out.append([BOS] + word + [SEP] + (word[::-1] if reverse else word))
    return out


def collate(seqs: list) -> tuple[torch.Tensor, torch.Tensor]:
    w = max(len(s) for s in seqs)
    tok, tgt = torch.full((len(seqs), w), PAD), torch.full((len(seqs), w), PAD)
    for i, s in enumerate(seqs):
        tok[i, w - len(s):] = torch.tensor(s)
        sep = w - len(s) + s.index(SEP)
        tgt[i, sep + 1:] = tok[i, sep + 1:]
    return tok[:, :-1], tgt[:, 1:]


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.norm1, self.norm2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.qkv, self.proj = nn.Linear(D, 3 * D, bias=False), nn.Linear(D, D)
        self.ff1, self.ff2 = nn.Linear(D, FF), nn.Linear(FF, D)
        if bug == "qkv_zeroed":
            nn.init.zeros_(self.qkv.weight)  # BUG qkv_zeroed: the q/k/v projection starts at 0

    def forward(self, x, allowed):  # (B, L, D), (B, L, L) True where a query may see a key
        b, l, _ = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, l, 3, HEADS, D // HEADS).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)
        if self.bug == "future_masked_with_zero":
            scores = scores.masked_fill(~allowed[:, None], 0.0)  # BUG future_masked_with_zero: 0, not -inf
        else:
            scores = scores.masked_fill(~allowed[:, None], float("-inf"))
        x = x + self.proj((scores.softmax(-1) @ v).transpose(1, 2).reshape(b, l, D))
        return x + self.ff2(F.relu(self.ff1(self.norm2(x))))


class RevLM(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.tok, self.pos = nn.Embedding(V, D, padding_idx=PAD), nn.Embedding(MAX_L, D)
        self.blocks = nn.ModuleList(Block(bug) for _ in range(LAYERS))
        self.norm, self.head = nn.LayerNorm(D), nn.Linear(D, V)

    def forward(self, tok):  # (B, L) -> (B, L, V)
        real = tok != PAD
        pos = (real.long().cumsum(1) - 1).clamp(min=0)
        l = tok.shape[1]
        causal = torch.ones(l, l, dtype=torch.bool, device=tok.device).tril()
        eye = torch.eye(l, dtype=torch.bool, device=tok.device)
        if self.bug == "pad_mask_dropped":
            allowed = causal[None].expand(tok.shape[0], l, l)  # BUG pad_mask_dropped: left padding attended
        else:
            allowed = causal[None] & (real[:, None, :] | eye[None])
        x = self.tok(tok) + self.pos(pos)
        for block in self.blocks:
            x = block(x, allowed)
        return self.head(self.norm(x))


class RevLMTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "revlm")
        g = torch.Generator().manual_seed(0)
        # BUG train_copies_not_reverses: the training split's answers are the word copied, not reversed
        self.train = draw(N_TRAIN, g, reverse=self.bug != "train_copies_not_reverses")
        self.val = draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        seqs = self.train[:n]
        model = RevLM(self.bug)
        train_eval, val_eval = collate(seqs[:400]), collate(self.val)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (xs, ys) in (("train", train_eval), ("val", val_eval)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    out.update(sequence_metrics(split, model(xs), ys, PAD))
            return out

        def loss(model, b):
            if self.bug == "log_softmax_over_positions":
                logp = model(b[0]).log_softmax(1)  # BUG log_softmax_over_positions: over dim 1 (time), not -1
                return F.nll_loss(logp.flatten(0, 1), b[1].flatten(), ignore_index=PAD)
            return F.cross_entropy(model(b[0]).flatten(0, 1), b[1].flatten(), ignore_index=PAD)

        return Problem(model=model, train_size=n, get_batch=lambda idx: collate([seqs[i] for i in idx.tolist()]),
                       loss=loss, evaluate=evaluate, chance_loss=math.log(LETTERS),
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
