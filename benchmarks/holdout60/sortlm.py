"""Held-out-60 family 4: a decoder-only Transformer (two pre-norm blocks with a hand-written LayerNorm and
hand-written multi-head attention under a causal and a key-padding mask, learned positions) writing a set of distinct
digits in ascending order after a prompt, under AdamW, over dataclass batches, scored by greedy generation.

A line: 3..8 distinct digits in random order (torch seed 0), SEP, the same digits sorted, EOS. Ids: PAD 0, SEP 1,
EOS 2, digits 3..12. 3000 training and 600 validation lines. Dataclass batches Lines(tokens (B, T), targets (B, T)),
right-padded with PAD: tokens = line[:-1], targets = line[1:] with -100 on the prompt (every position before SEP) and
on the padding, so the loss reads the sorted digits and EOS only. Model: Embedding(13, 64) + Embedding(24, 64)
positions; two blocks x + attn(norm(x)), x + mlp(norm(x)) with four heads of 16, MLP 64-256-64 (GELU); a final norm;
Linear(64, 13). Loss: cross-entropy over the scored positions; AdamW (betas 0.9, 0.98, weight decay 0.01) at 0.001,
batch 32. Metrics: the teacher-forced loss and, from greedy generation after each prompt and SEP (the lines grouped by
prompt length, so no padding), token accuracy and `exact`, on the stage's first 500 lines and on validation. Each bug
is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "causal_mask_diagonal_2", "norm_over_time", "log_softmax_over_positions", "linear_init_std_1")
PAD, SEP, EOS, DIGITS, V, D, HEADS, MAXLEN, N_TRAIN, N_VAL = 0, 1, 2, 10, 13, 64, 4, 24, 3000, 600


@dataclass
class Lines:
    tokens: torch.Tensor
    targets: torch.Tensor


def draw(n: int, g: torch.Generator) -> list:
    out = []
    for _ in range(n):
        k = int(torch.randint(3, 9, (1,), generator=g))
        digits = (torch.randperm(DIGITS, generator=g)[:k] + 3).tolist()
        out.append((digits, sorted(digits)))
    return out


def make_batch(items: list) -> Lines:
    lines = [p + [SEP] + a + [EOS] for p, a in items]
    w = max(len(s) for s in lines) - 1
    tokens, targets = torch.full((len(lines), w), PAD), torch.full((len(lines), w), -100)
    for i, ((p, _), line) in enumerate(zip(items, lines)):
        t = torch.tensor(line)
        tokens[i, :len(line) - 1], targets[i, :len(line) - 1] = t[:-1], t[1:]
        targets[i, :len(p)] = -100  # the prompt is given, not predicted
    return Lines(tokens, targets)


class Norm(nn.Module):
    """LayerNorm written out."""

    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.gain, self.shift = nn.Parameter(torch.ones(D)), nn.Parameter(torch.zeros(D))

    def forward(self, h):  # (B, T, D)
        if self.bug == "norm_over_time":
            h = (h - h.mean(1, keepdim=True)) / (h.var(1, keepdim=True, unbiased=False) + 1e-5).sqrt()  # BUG norm_over_time: the statistics over the positions (dim 1), not the features (dim -1)
        else:
            h = (h - h.mean(-1, keepdim=True)) / (h.var(-1, keepdim=True, unbiased=False) + 1e-5).sqrt()
        return h * self.gain + self.shift


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.n1, self.n2 = Norm(bug), Norm(bug)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.mlp = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(), nn.Linear(4 * D, D))

    def attend(self, x, pad):  # x (B, T, D), pad (B, T) True at padding
        b, t, _ = x.shape
        q, k, v = (z.reshape(b, t, HEADS, D // HEADS).transpose(1, 2) for z in self.qkv(x).chunk(3, -1))
        if self.bug == "causal_mask_diagonal_2":
            future = torch.triu(torch.ones(t, t, dtype=torch.bool, device=x.device), 2)  # BUG causal_mask_diagonal_2: triu(..., 2) where 1 was meant: each position also sees the next one
        else:
            future = torch.triu(torch.ones(t, t, dtype=torch.bool, device=x.device), 1)
        scores = (q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)).masked_fill(future | pad[:, None, None, :],
                                                                                float("-inf"))
        return self.proj((scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, D))

    def forward(self, x, pad):
        x = x + self.attend(self.n1(x), pad)
        return x + self.mlp(self.n2(x))


class SortLM(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.tok, self.pos = nn.Embedding(V, D), nn.Embedding(MAXLEN, D)
        self.blocks = nn.ModuleList([Block(bug), Block(bug)])
        self.norm, self.head = Norm(bug), nn.Linear(D, V)
        if bug == "linear_init_std_1":
            [nn.init.normal_(m.weight) for m in self.modules() if isinstance(m, nn.Linear)]  # BUG linear_init_std_1: normal_(w) on every Linear for GPT's init, std=0.02 forgotten (std 1.0: 8-16x PyTorch's default)

    def forward(self, tokens):
        pad = tokens == PAD
        x = self.tok(tokens) + self.pos(torch.arange(tokens.shape[1], device=tokens.device))
        for block in self.blocks:
            x = block(x, pad)
        return self.head(self.norm(x))


def sort_loss(logits, targets, bug: str = "none"):
    if bug == "log_softmax_over_positions":
        return F.nll_loss(logits.log_softmax(1).reshape(-1, V), targets.reshape(-1))  # BUG log_softmax_over_positions: log_softmax over dim 1 (the positions of the (B, T, V) logits), the vocabulary (-1) meant
    return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))


@torch.no_grad()
def generate(model, items: list) -> tuple[int, int, int]:
    """Greedy answers, the lines grouped by prompt length: (tokens right, tokens, lines right)."""
    right = total = exact = 0
    device = next(model.parameters()).device
    for k in sorted({len(p) for p, _ in items}):
        group = [(p, a) for p, a in items if len(p) == k]
        seq = torch.tensor([p + [SEP] for p, _ in group], device=device)
        want = torch.tensor([a + [EOS] for _, a in group], device=device)
        for _ in range(k + 1):
            seq = torch.cat([seq, model(seq)[:, -1].argmax(-1, keepdim=True)], 1)
        hit = seq[:, k + 1:] == want
        right, total, exact = right + hit.sum().item(), total + hit.numel(), exact + hit.all(1).sum().item()
    return right, total, exact


class SortTask:
    metrics = ("train/loss", "train/acc", "train/exact", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "sortlm")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        items = self.train[:n]
        model = SortLM(self.bug)
        bug = self.bug
        train_eval, val_eval = make_batch(items[:500]), make_batch(self.val)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b, its in (("train", train_eval, items[:500]), ("val", val_eval, self.val)):
                    logits = model(on_device_of(model, b.tokens))
                    out[f"{split}/loss"] = sort_loss(logits, on_device_of(model, b.targets)).item()
                    right, total, exact = generate(model, its)
                    out[f"{split}/acc"], out[f"{split}/exact"] = right / total, exact / len(its)
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: make_batch([items[i] for i in idx.tolist()]),
                       loss=lambda model, b: sort_loss(model(b.tokens), b.targets, bug), evaluate=evaluate,
                       chance_loss=math.log(V), forward=lambda model, b: model(b.tokens), targets=lambda b: b.targets)
