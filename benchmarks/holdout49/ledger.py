"""Held-out-49 family 4: a causal Transformer language model keeping a running balance: a sequence alternates
deposits and balances, BOS d1 s1 d2 s2 ... dk sk with s_i = (s_(i-1) + d_i) mod 10, and the model predicts each
balance from the tokens before it, over dataclass batches.

A ledger: k = 3..10 digit deposits (uniform). Ids: PAD 0, BOS 1, digits 2..11. Torch seed 0 draws 3000 training and
600 validation ledgers. Dataclass batches Ledger(tokens (B, T), targets (B, T)), right-padded: the target at a
deposit's position is the balance that follows it (the next token), -100 elsewhere (the next deposit is random).
Model: token embeddings of 64 plus learnt positions (24); two pre-norm blocks (a hand-written LayerNorm; 4 heads of
16, attention written out, scores / 4, a causal mask and padded keys at -inf; GELU feed-forward 128); a final
LayerNorm; Linear(64, 12). Cross-entropy over the targeted positions; AdamW at 0.001. Metrics: loss, balance accuracy
and `exact` (every balance right) on the stage's first 500 ledgers and on validation. Each bug is one line, marked
`# BUG <name>`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "balance_one_step_late", "targets_shifted_again", "mask_hides_self", "blocks_detached")
PAD, BOS, D, HEADS, FF, MAX_POS, IGNORE, VOCAB, N_TRAIN, N_VAL = 0, 1, 64, 4, 128, 24, -100, 12, 3000, 600


@dataclass
class Ledger:
    tokens: torch.Tensor   # (B, T) ids, PAD-padded
    targets: torch.Tensor  # (B, T) the next balance at deposits, -100 elsewhere


def draw(n: int, g: torch.Generator, bug: str) -> list:
    out = []
    for _ in range(n):
        k = int(torch.randint(3, 11, (1,), generator=g))
        deposits = torch.randint(0, 10, (k,), generator=g).tolist()
        balances = [sum(deposits[:i + 1]) % 10 for i in range(k)]
        tokens, targets = [BOS], [IGNORE]
        for i, (d, s) in enumerate(zip(deposits, balances)):
            tokens += [d + 2, s + 2]
            if bug == "balance_one_step_late":
                targets += [balances[i + 1] + 2 if i + 1 < k else IGNORE, IGNORE]  # BUG balance_one_step_late: the target taken from the next deposit's balance (an index off by one)
            else:
                targets += [s + 2, IGNORE]
        out.append((tokens, targets))
    return out


def make_batch(items: list) -> Ledger:
    width = max(len(t) for t, _ in items)
    tokens, targets = torch.full((len(items), width), PAD), torch.full((len(items), width), IGNORE)
    for i, (t, y) in enumerate(items):
        tokens[i, :len(t)], targets[i, :len(y)] = torch.tensor(t), torch.tensor(y)
    return Ledger(tokens, targets)


class Norm(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug, self.g, self.b = bug, nn.Parameter(torch.ones(D)), nn.Parameter(torch.zeros(D))

    def forward(self, x):  # (B, T, D)
        mu, var = x.mean(-1, keepdim=True), x.var(-1, keepdim=True, unbiased=False)
        return (x - mu) / torch.sqrt(var + 1e-5) * self.g + self.b


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.n1, self.n2 = Norm(bug), Norm(bug)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.ff = nn.Sequential(nn.Linear(D, FF), nn.GELU(), nn.Linear(FF, D))

    def forward(self, x, blocked):  # (B, T, D); blocked (B, 1, T, T): True where a query may not read a key
        b, t, _ = x.shape
        q, k, v = (u.view(b, t, HEADS, D // HEADS).transpose(1, 2) for u in self.qkv(self.n1(x)).chunk(3, -1))
        s = (q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)).masked_fill(blocked, float("-inf"))
        x = x + self.proj((s.softmax(-1) @ v).transpose(1, 2).reshape(b, t, D))
        return x + self.ff(self.n2(x))


class Bookkeeper(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.emb, self.pos = nn.Embedding(VOCAB, D, padding_idx=PAD), nn.Embedding(MAX_POS, D)
        self.blocks = nn.ModuleList(Block(bug) for _ in range(2))
        self.norm, self.head = Norm(bug), nn.Linear(D, VOCAB)

    def forward(self, tokens):  # (B, T) -> (B, T, 12) logits
        t = tokens.shape[1]
        ones = torch.ones(t, t, dtype=torch.bool, device=tokens.device)
        if self.bug == "mask_hides_self":
            causal = torch.triu(ones, diagonal=0)  # BUG mask_hides_self: triu(diagonal=0) also blocks the diagonal: no position may read itself
        else:
            causal = torch.triu(ones, diagonal=1)
        blocked = causal[None, None] | (tokens == PAD)[:, None, None, :]
        pos = self.pos(torch.arange(t, device=tokens.device))
        h = self.emb(tokens) + pos
        for block in self.blocks:
            h = block(h, blocked)
            if self.bug == "blocks_detached":
                h = h.detach()  # BUG blocks_detached: each block's output detached (left from a truncated-backprop experiment)
        return self.head(self.norm(h))


class LedgerTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "ledger")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g, self.bug), draw(N_VAL, g, "none")

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        items = self.train[:n]
        model = Bookkeeper(self.bug)
        bug = self.bug
        train_eval, val_eval = make_batch(items[:500]), make_batch(self.val)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    tokens, targets = on_device_of(model, b.tokens), on_device_of(model, b.targets)
                    out.update(sequence_metrics(split, model(tokens), targets, IGNORE))
            return out

        def loss(model, b):
            if bug == "targets_shifted_again":
                return F.cross_entropy(model(b.tokens)[:, :-1].flatten(0, 1), b.targets[:, 1:].flatten(), ignore_index=IGNORE)  # BUG targets_shifted_again: the usual next-token shift applied to targets that are already the next token
            return F.cross_entropy(model(b.tokens).flatten(0, 1), b.targets.flatten(), ignore_index=IGNORE)

        return Problem(model=model, train_size=n, get_batch=lambda idx: make_batch([items[i] for i in idx.tolist()]),
                       loss=loss, evaluate=evaluate, chance_loss=math.log(10),
                       forward=lambda model, b: model(b.tokens), targets=lambda b: b.targets)
