"""Held-out-53 family 4: a decoder-only Transformer that learns to ring the changes: given a first row (an order of
five church bells), it continues the plain hunt, row after row, with hand-written attention and LayerNorm under causal
and key-padding masks, over namedtuple batches.

A touch: a first row (a random permutation of bells 1..5, torch seed 0), then 2..6 changes of the plain hunt on five
(odd changes swap the bells in places 1-2 and 3-4, even changes those in places 2-3 and 4-5), each row followed by
the row end `|`. Ids: PAD 0, bells 1..5, `|` 6. 3000 training and 400 validation touches. Namedtuple batches
Peal(tokens (B, L), targets (B, L)), right-padded: tokens = touch[:-1], targets = touch[1:] with PAD and the first
row's bells (which nothing predicts) at -100. Model: Embedding(7, 64) + learned positions (48); two pre-norm blocks
(a hand-written LayerNorm; 4 heads of 16, attention written out, scores / 4, future and padded keys at -inf; GELU
feed-forward 128); a final LayerNorm; Linear(64, 7). Log-softmax over the vocabulary and NLL over the scored
positions; AdamW (betas 0.9, 0.98, weight decay 0.01) at 0.001. Metrics: teacher-forced loss and accuracy on the
stage's first 300 touches and on validation, and `val/exact`: the validation touches rung out greedily from their
first row (each distinct first row rung once) (as long as the touch), every row right. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from collections import namedtuple
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "renamed_inputs_only", "tokens_as_targets", "qkv_normal_std1", "causal_mask_transposed")
Peal = namedtuple("Peal", "tokens targets")
PAD, END, BELLS, D, HEADS, FF, MAXLEN, N_TRAIN, N_VAL, IGNORE = 0, 6, 5, 64, 4, 128, 48, 3000, 400, -100
VOCAB = BELLS + 2


def ring(first: list, changes: int) -> list:
    rows, row = [first], list(first)
    for k in range(changes):
        for p in ((0, 2) if k % 2 == 0 else (1, 3)):
            row[p], row[p + 1] = row[p + 1], row[p]
        rows.append(list(row))
    return [t for r in rows for t in r + [END]]


def draw(n: int, g: torch.Generator) -> list:
    return [ring((torch.randperm(BELLS, generator=g) + 1).tolist(), int(torch.randint(2, 7, (1,), generator=g)))
            for _ in range(n)]


def make_batch(touches: list, bug: str = "none") -> Peal:
    width = max(len(t) for t in touches) - 1
    tokens, targets = torch.full((len(touches), width), PAD), torch.full((len(touches), width), IGNORE)
    for i, t in enumerate(touches):
        tgt = torch.tensor(t[1:])
        tgt[:BELLS - 1] = IGNORE                      # the rest of the first row: nothing predicts it
        src = torch.tensor(t[:-1])
        if bug == "renamed_inputs_only":
            src = torch.cat([torch.tensor([0]), torch.randperm(BELLS) + 1, torch.tensor([END])])[src]  # BUG renamed_inputs_only: a bell-renaming augmentation (the bells are interchangeable) applied to the inputs after the targets were sliced from the original touch
        tokens[i, :len(t) - 1], targets[i, :len(t) - 1] = src, tgt
    return Peal(tokens, targets)


class Norm(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.g, self.b = nn.Parameter(torch.ones(D)), nn.Parameter(torch.zeros(D))

    def forward(self, x):  # (B, L, D)
        mu, var = x.mean(-1, keepdim=True), x.var(-1, keepdim=True, unbiased=False)
        return self.g * (x - mu) / torch.sqrt(var + 1e-5) + self.b


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.n1, self.n2 = Norm(bug), Norm(bug)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.ff = nn.Sequential(nn.Linear(D, FF), nn.GELU(), nn.Linear(FF, D))
        if bug == "qkv_normal_std1":
            nn.init.normal_(self.qkv.weight, std=1.0)  # BUG qkv_normal_std1: normal_(w, std=1.0) on the attention projection where std=0.02 was meant

    def forward(self, x, blocked):  # blocked (B, 1, L, L): True where a query may not see a key
        b, t, _ = x.shape
        q, k, v = (u.view(b, t, HEADS, D // HEADS).transpose(1, 2) for u in self.qkv(self.n1(x)).chunk(3, -1))
        s = (q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)).masked_fill(blocked, float("-inf"))
        a = (s.softmax(-1) @ v).transpose(1, 2).reshape(b, t, D)
        x = x + self.proj(a)
        return x + self.ff(self.n2(x))


class Ringer(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.emb, self.pos = nn.Embedding(VOCAB, D, padding_idx=PAD), nn.Embedding(MAXLEN, D)
        self.blocks = nn.ModuleList(Block(bug) for _ in range(2))
        self.norm, self.head = Norm(bug), nn.Linear(D, VOCAB)

    def forward(self, tokens):  # (B, L) -> (B, L, VOCAB) logits
        t = tokens.shape[1]
        ones = torch.ones(t, t, dtype=torch.bool, device=tokens.device)
        if self.bug == "causal_mask_transposed":
            future = torch.tril(ones, diagonal=-1)  # BUG causal_mask_transposed: tril(-1) where triu(1) was meant: each position is blocked from the past and sees the future
        else:
            future = torch.triu(ones, diagonal=1)
        blocked = future[None, None] | (tokens == PAD)[:, None, None, :]
        h = self.emb(tokens) + self.pos(torch.arange(t, device=tokens.device))
        for block in self.blocks:
            h = block(h, blocked)
        return self.head(self.norm(h))

    def ring_out(self, first, length: int):  # first (B, 6): a first row and its `|`; -> (B, length) ids
        seq = first
        while seq.shape[1] < length:
            seq = torch.cat([seq, self(seq)[:, -1].argmax(-1, keepdim=True)], 1)
        return seq


def peal_loss(logits, targets):
    logp = F.log_softmax(logits, dim=-1)
    return F.nll_loss(logp.reshape(-1, VOCAB), targets.reshape(-1), ignore_index=IGNORE)


class BellsTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "bells")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        touches = self.train[:n]
        model = Ringer(self.bug)
        bug = self.bug
        train_eval, val_eval = make_batch(touches[:300]), make_batch(self.val)
        firsts = sorted({tuple(t[:BELLS + 1]) for t in self.val})       # a touch follows from its first row alone
        which = torch.tensor([firsts.index(tuple(t[:BELLS + 1])) for t in self.val])
        firsts = torch.tensor(firsts)
        val_full = torch.full((len(self.val), max(len(t) for t in self.val)), PAD)
        for i, t in enumerate(self.val):
            val_full[i, :len(t)] = torch.tensor(t)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    tokens, targets = on_device_of(model, b.tokens), on_device_of(model, b.targets)
                    logits = model(tokens)
                    scored = targets != IGNORE
                    out[f"{split}/loss"] = peal_loss(logits, targets).item()
                    out[f"{split}/acc"] = ((logits.argmax(-1) == targets) & scored).sum().item() / scored.sum().item()
                full = on_device_of(model, val_full)
                rung = model.ring_out(on_device_of(model, firsts), full.shape[1])[on_device_of(model, which)]
                out["val/exact"] = ((rung == full) | (full == PAD)).all(1).float().mean().item()
            return out

        def loss(model, b):
            if bug == "tokens_as_targets":
                return peal_loss(model(b.tokens), b.tokens)  # BUG tokens_as_targets: the batch's tokens passed as the targets (b.tokens where b.targets was meant)
            return peal_loss(model(b.tokens), b.targets)

        return Problem(model=model, train_size=n,
                       get_batch=lambda idx: make_batch([touches[i] for i in idx.tolist()], bug), loss=loss, evaluate=evaluate,
                       chance_loss=math.log(VOCAB), forward=lambda model, b: model(b.tokens),
                       targets=lambda b: b.targets)
