"""Held-out-58 family 3: an LSTM encoder-decoder with additive (Bahdanau) attention rewriting an arithmetic expression
from infix to postfix (reverse Polish: "7-3*2+5" -> "732*-5+"), teacher forcing, under Adam with gradient clipping,
over plain 3-tuple batches (source, source lengths, target), scored by greedy decoding.

An expression: 2..4 one-digit operands (1..9) joined by + - * (torch seed 0), usual precedence, left to right within a
level; its postfix form by the shunting-yard algorithm, so source and target have the same length (3..7 tokens). 3000
training and 600 validation expressions, all different. Ids (one vocabulary for both sides): PAD 0, BOS 1, EOS 2, digits
1..9 as 3..11, + 12, - 13, * 14. Batches: a plain tuple (src (B, S) right-padded, src_len (B,), tgt (B, T) = BOS +
postfix + EOS, right-padded); the loss feeds tgt[:, :-1] and scores tgt[:, 1:]. Model: a shared Embedding(15, 64)
(padding row 0); a one-layer LSTM(64, 128) encoder run over the padded source (its outputs at real positions do not see
the padding after them); an LSTM(64, 128) decoder started from zeros, whose states query the encoder outputs with
additive attention (score v . tanh(W q + U k), width 64; padded source positions at -1e9; softmax over the source
positions); Linear(256, 15) on [state; context]. Loss: cross-entropy over non-PAD targets; Adam at 0.002, gradient
clipping at norm 1, batch 64. Metrics: teacher-forced `loss`, and from greedy decoding (as many steps as the target has
tokens, EOS included) token `acc` and `exact`, on the stage's first 500 expressions and on validation. Each bug is one
line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "source_flipped_padded", "decoder_input_as_target", "lstm_uniform_pm1", "attention_softmax_over_steps")
PAD, BOS, EOS, V, E, H, A, N_TRAIN, N_VAL = 0, 1, 2, 15, 64, 128, 64, 3000, 600
OPS = "+-*"
PREC = {"+": 1, "-": 1, "*": 2}
ID = {**{str(d): d + 2 for d in range(1, 10)}, "+": 12, "-": 13, "*": 14}
TOKEN = {v: k for k, v in ID.items()}


def postfix(infix: str) -> str:
    out, stack = [], []
    for c in infix:
        if c.isdigit():
            out.append(c)
            continue
        while stack and PREC[stack[-1]] >= PREC[c]:
            out.append(stack.pop())
        stack.append(c)
    return "".join(out + stack[::-1])


def draw(n: int, g: torch.Generator) -> list[str]:
    seen, out = set(), []
    while len(out) < n:
        k = int(torch.randint(2, 5, (1,), generator=g))
        digits = torch.randint(1, 10, (k,), generator=g).tolist()
        ops = torch.randint(0, 3, (k - 1,), generator=g).tolist()
        expr = str(digits[0]) + "".join(OPS[o] + str(d) for o, d in zip(ops, digits[1:]))
        if expr not in seen:
            seen.add(expr)
            out.append(expr)
    return out


def make_batch(exprs: list[str], bug: str = "none"):
    srcs = [[ID[c] for c in e] for e in exprs]
    tgts = [[BOS] + [ID[c] for c in postfix(e)] + [EOS] for e in exprs]
    src, tgt = torch.full((len(exprs), max(map(len, srcs))), PAD), torch.full((len(exprs), max(map(len, tgts))), PAD)
    for i, (s, t) in enumerate(zip(srcs, tgts)):
        src[i, :len(s)], tgt[i, :len(t)] = torch.tensor(s), torch.tensor(t)
    src_len = torch.tensor([len(s) for s in srcs])
    if bug == "source_flipped_padded":
        src = src.flip(1)  # BUG source_flipped_padded: the source reversed (Sutskever et al.'s trick) on the padded batch instead of within each expression: padding first, the lengths unchanged
    return src, src_len, tgt


class PostfixWriter(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.emb = nn.Embedding(V, E, padding_idx=PAD)
        self.enc, self.dec = nn.LSTM(E, H, batch_first=True), nn.LSTM(E, H, batch_first=True)
        self.w_q, self.w_k, self.v = nn.Linear(H, A, bias=False), nn.Linear(H, A), nn.Linear(A, 1, bias=False)
        self.out = nn.Linear(2 * H, V)
        if bug == "lstm_uniform_pm1":
            [nn.init.uniform_(p, -1.0, 1.0) for lstm in (self.enc, self.dec) for p in lstm.parameters()]  # BUG lstm_uniform_pm1: uniform_(p, -1, 1) on the LSTMs (PyTorch's bound is 1/sqrt(hidden) = 0.088)

    def encode(self, src, src_len):
        keys, _ = self.enc(self.emb(src))
        real = torch.arange(src.shape[1], device=src.device)[None] < src_len[:, None]
        return keys, real

    def attend(self, q, keys, real):  # q (B, T, H), keys (B, S, H) -> (B, T, 2H)
        scores = self.v(torch.tanh(self.w_q(q)[:, :, None] + self.w_k(keys)[:, None])).squeeze(-1)  # (B, T, S)
        scores = scores.masked_fill(~real[:, None, :], -1e9)
        if self.bug == "attention_softmax_over_steps":
            weights = scores.softmax(1)  # BUG attention_softmax_over_steps: the softmax over dim 1 of the (B, T, S) scores, the decoder steps, where -1 (the source positions) was meant
        else:
            weights = scores.softmax(-1)
        return torch.cat([q, weights @ keys], -1)

    def forward(self, src, src_len, tgt_in):  # -> (B, T, V) logits
        keys, real = self.encode(src, src_len)
        q, _ = self.dec(self.emb(tgt_in))
        return self.out(self.attend(q, keys, real))

    def greedy(self, src, src_len, steps: int):
        keys, real = self.encode(src, src_len)
        token, state, out = torch.full((src.shape[0], 1), BOS, device=src.device), None, []
        for _ in range(steps):
            q, state = self.dec(self.emb(token), state)
            token = self.out(self.attend(q, keys, real)).argmax(-1)
            out.append(token)
        return torch.cat(out, 1)


def seq_loss(model, batch, bug: str = "none"):
    src, src_len, tgt = batch
    logits = model(src, src_len, tgt[:, :-1])
    if bug == "decoder_input_as_target":
        return F.cross_entropy(logits.transpose(1, 2), tgt[:, :-1], ignore_index=PAD)  # BUG decoder_input_as_target: scored against tgt[:, :-1], the decoder's own input, where tgt[:, 1:] was meant
    return F.cross_entropy(logits.transpose(1, 2), tgt[:, 1:], ignore_index=PAD)


class PostfixTask:
    metrics = ("train/loss", "train/acc", "train/exact", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "postfix")
        exprs = draw(N_TRAIN + N_VAL, torch.Generator().manual_seed(0))
        self.train, self.val = exprs[:N_TRAIN], exprs[N_TRAIN:]

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        exprs = self.train[:n]
        model = PostfixWriter(self.bug)
        bug = self.bug
        prepared = {"train": make_batch(exprs[:500], bug), "val": make_batch(self.val, bug)}

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, batch in prepared.items():
                    src, src_len, tgt = (on_device_of(model, t) for t in batch)
                    gold = tgt[:, 1:]
                    pred = model.greedy(src, src_len, gold.shape[1])
                    real = gold != PAD
                    right = (pred == gold) | ~real
                    out[f"{split}/loss"] = seq_loss(model, (src, src_len, tgt)).item()
                    out[f"{split}/acc"] = ((pred == gold) & real).sum().item() / real.sum().item()
                    out[f"{split}/exact"] = right.all(1).float().mean().item()
            return out

        def get_batch(idx):
            return make_batch([exprs[i] for i in idx.tolist()], bug)

        return Problem(model=model, train_size=n, get_batch=get_batch,
                       loss=lambda model, b: seq_loss(model, b, bug), evaluate=evaluate, chance_loss=math.log(V),
                       forward=lambda model, b: model(b[0], b[1], b[2][:, :-1]), targets=lambda b: b[2][:, 1:])
