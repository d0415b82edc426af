"""Held-out-54 family 4: a decoder-only Transformer (causal mask and key padding mask, attention and LayerNorm written
out) learning railway timetables as a language model, under AdamW, over dataclass batches, scored on each departure
time predicted from its prefix alone.

A timetable: a line token (one of 6), then 3..6 stops, each a station (one of 12) and its departure minute in 5-minute
steps (12 values), then EOS. Stations are drawn at random (no station twice in a row); the first departure is random
and each next one is (previous + travel[station]) mod 12, with travel[s] in 1..6 a fixed table of the destination
station. Ids: PAD 0, EOS 1, lines 2..7, stations 8..19, minutes 20..31. Torch seed 0 draws 3000 training and 600
validation timetables. Dataclass batches Timetable(tokens (B, T), targets (B, T)): the sequence without its last token
and without its first, right-padded with PAD. Model: token embedding 64 + learned positions (16), two pre-norm blocks
(a hand-written LayerNorm; four-head attention written out with the causal mask and the key padding mask at -inf; a
GELU feed-forward 64-128-64), a final LayerNorm, Linear(64, 32). Loss: cross-entropy over non-PAD targets; AdamW
(weight decay 0.01) at 0.002. Metrics: teacher-forced loss; `acc`, the share of departures after the first predicted
right when the model reads only the prefix up to that departure's station, and `exact`, the share of timetables with
every such departure right, on the stage's first 500 timetables and on validation. Each bug is one line, marked
`# BUG <name>`.
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

BUGS = ("none", "time_shift_inputs_only", "additive_01_causal_mask", "layernorm_over_sequence",
        "heads_view_without_transpose")
PAD, EOS, LINES, STATIONS, MINUTES = 0, 1, 6, 12, 12
LINE0, STATION0, MINUTE0 = 2, 2 + LINES, 2 + LINES + STATIONS
V, D, HEADS, MAX_T, N_TRAIN, N_VAL = MINUTE0 + MINUTES, 64, 4, 16, 3000, 600


@dataclass
class Timetable:
    tokens: torch.Tensor   # (B, T) the sequence without its last token
    targets: torch.Tensor  # (B, T) the sequence without its first token


def draw(n: int, g: torch.Generator, travel: torch.Tensor):
    seqs = []
    for _ in range(n):
        stops = int(torch.randint(3, 7, (1,), generator=g))
        seq, station, minute = [LINE0 + int(torch.randint(0, LINES, (1,), generator=g))], -1, 0
        for i in range(stops):
            nxt = int(torch.randint(0, STATIONS - (1 if i else 0), (1,), generator=g))
            station = nxt + (1 if i and nxt >= station else 0)
            minute = int(torch.randint(0, MINUTES, (1,), generator=g)) if i == 0 else (minute + int(travel[station])) % MINUTES
            seq += [STATION0 + station, MINUTE0 + minute]
        seqs.append(seq + [EOS])
    return seqs


def make_batch(seqs: list, bug: str = "none", g: torch.Generator | None = None) -> Timetable:
    width = max(len(s) for s in seqs) - 1
    tokens, targets = torch.full((len(seqs), width), PAD), torch.full((len(seqs), width), PAD)
    for i, s in enumerate(seqs):
        t = torch.tensor(s)
        tokens[i, :len(s) - 1], targets[i, :len(s) - 1] = t[:-1], t[1:]
    if bug == "time_shift_inputs_only":
        tokens = shift_minutes(tokens, torch.randint(0, MINUTES, (len(seqs), 1), generator=g))  # BUG time_shift_inputs_only: the cyclic time-shift augmentation applied after the targets were sliced off: only the inputs move
    return Timetable(tokens, targets)


def shift_minutes(tokens, k):
    is_minute = tokens >= MINUTE0
    return torch.where(is_minute, MINUTE0 + (tokens - MINUTE0 + k) % MINUTES, tokens)


class Norm(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.gain, self.bias = nn.Parameter(torch.ones(D)), nn.Parameter(torch.zeros(D))

    def forward(self, x):  # (B, T, D)
        dims = (-2, -1) if self.bug == "layernorm_over_sequence" else (-1,)  # BUG layernorm_over_sequence: mean and variance over the whole sequence and its features, (-1,) meant
        mu, var = x.mean(dims, keepdim=True), x.var(dims, keepdim=True, unbiased=False)
        return (x - mu) / torch.sqrt(var + 1e-5) * self.gain + self.bias


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.n1, self.n2 = Norm(bug), Norm(bug)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.ff = nn.Sequential(nn.Linear(D, 2 * D), nn.GELU(), nn.Linear(2 * D, D))

    def heads(self, t):  # (B, T, D) -> (B, HEADS, T, D / HEADS)
        b, n, _ = t.shape
        if self.bug == "heads_view_without_transpose":
            return t.reshape(b, HEADS, n, D // HEADS)  # BUG heads_view_without_transpose: reshape straight to (B, H, T, dh), view(B, T, H, dh).transpose(1, 2) meant
        return t.view(b, n, HEADS, D // HEADS).transpose(1, 2)

    def forward(self, x, pad):  # pad (B, T) True at PAD
        b, n, _ = x.shape
        q, k, v = (self.heads(t) for t in self.qkv(self.n1(x)).chunk(3, -1))
        scores = q @ k.transpose(-2, -1) / math.sqrt(D // HEADS)
        future = torch.triu(torch.ones(n, n, dtype=torch.bool, device=x.device), 1)
        if self.bug == "additive_01_causal_mask":
            scores = scores + future.float()  # BUG additive_01_causal_mask: the 0/1 causal mask added to the scores, as for an additive float mask (masked_fill with -inf meant)
        else:
            scores = scores.masked_fill(future, float("-inf"))
        scores = scores.masked_fill(pad[:, None, None, :], float("-inf"))
        att = scores.softmax(-1) @ v
        x = x + self.proj(att.transpose(1, 2).reshape(b, n, D))
        return x + self.ff(self.n2(x))


class TimetableLM(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.tok, self.pos = nn.Embedding(V, D), nn.Embedding(MAX_T, D)
        self.blocks = nn.ModuleList([Block(bug), Block(bug)])
        self.norm = Norm(bug)
        self.out = nn.Linear(D, V)

    def forward(self, tokens):  # (B, T) -> (B, T, V)
        pad = tokens == PAD
        x = self.tok(tokens) + self.pos(torch.arange(tokens.shape[1], device=tokens.device))
        for block in self.blocks:
            x = block(x, pad)
        return self.out(self.norm(x))


def departures_from_prefix(model, tokens, targets):
    """Predictions of each departure after the first, the model reading only the prefix up to its station."""
    scored = (targets >= MINUTE0) & (torch.arange(targets.shape[1], device=targets.device) > 1)
    pred = torch.zeros_like(targets)
    for p in range(2, tokens.shape[1]):
        if scored[:, p].any():
            pred[:, p] = model(tokens[:, :p + 1])[:, p].argmax(-1)
    return pred, scored


class TimetablesTask:
    metrics = ("train/loss", "train/acc", "train/exact", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "timetables")
        g = torch.Generator().manual_seed(0)
        travel = torch.randint(1, 7, (STATIONS,), generator=g)
        self.train, self.val = draw(N_TRAIN, g, travel), draw(N_VAL, g, travel)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        seqs = self.train[:n]
        model = TimetableLM(self.bug)
        bug = self.bug
        g = torch.Generator().manual_seed(seed)
        train_eval, val_eval = make_batch(seqs[:500]), make_batch(self.val)

        def loss(model, b):
            logits = model(b.tokens)
            return F.cross_entropy(logits.transpose(1, 2), b.targets, ignore_index=PAD)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    tokens, targets = on_device_of(model, b.tokens), on_device_of(model, b.targets)
                    out[f"{split}/loss"] = F.cross_entropy(model(tokens).transpose(1, 2), targets,
                                                           ignore_index=PAD).item()
                    pred, scored = departures_from_prefix(model, tokens, targets)
                    right = (pred == targets) & scored
                    out[f"{split}/acc"] = right.sum().item() / scored.sum().item()
                    out[f"{split}/exact"] = (right | ~scored).all(1).float().mean().item()
            return out

        return Problem(model=model, train_size=n,
                       get_batch=lambda idx: make_batch([seqs[i] for i in idx.tolist()], bug, g), loss=loss,
                       evaluate=evaluate, chance_loss=math.log(V), forward=lambda model, b: model(b.tokens),
                       targets=lambda b: b.targets)
