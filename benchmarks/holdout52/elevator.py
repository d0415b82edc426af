"""Held-out-52 family 3: an LSTM encoder-decoder with Luong "general" attention turning an elevator's pending calls
into the order it serves them (the SCAN rule: from its current floor it goes up through the calls above, then down
through those below), over dataclass batches.

A log line: the current floor (0..15), then 3..7 distinct called floors other than it, in the order they were
pressed. Target: the calls at or above the current floor ascending, then those below it descending. Ids: PAD 0, BOS 1,
EOS 2, SEP 3 (after the current floor), floors 4..19. Torch seed 0 draws 3000 training and 600 validation lines.
Dataclass batches Calls(src (B, S), src_len (B,), tgt_in (B, T), tgt_out (B, T)), right-padded: src = floor SEP
calls, tgt_in = BOS + order, tgt_out = order + EOS. Model: a shared Embedding(20, 32); encoder LSTM(32, 128)
(batch_first, packed by src_len), its final (h, c) starting the decoder LSTM(32, 128), which runs time-major over
tgt_in (teacher forcing); attention scores dec W mem^T with padded source positions at -inf; Linear(256, 20) on
[decoder output; context]. The model returns time-major (T, B, 20) logits; the loss transposes them to batch-first
and takes the cross-entropy over non-PAD targets; Adam at 0.003. Metrics (teacher forced): loss, token accuracy and
`exact` on the stage's first 500 lines and on validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "source_reversed_in_training", "time_major_flattened", "lstm_uniform_0.8", "source_mask_inverted")
PAD, BOS, EOS, SEP, FLOORS, E, H, N_TRAIN, N_VAL = 0, 1, 2, 3, 16, 32, 128, 3000, 600
VOCAB = FLOORS + 4


@dataclass
class Calls:
    src: torch.Tensor       # (B, S) floor SEP calls, PAD-padded
    src_len: torch.Tensor   # (B,)
    tgt_in: torch.Tensor    # (B, T) BOS + order
    tgt_out: torch.Tensor   # (B, T) order + EOS


def draw(n: int, g: torch.Generator) -> list:
    out = []
    for _ in range(n):
        k = int(torch.randint(3, 8, (1,), generator=g))
        floors = torch.randperm(FLOORS, generator=g)[:k + 1].tolist()
        here, calls = floors[0], floors[1:]
        order = sorted(f for f in calls if f >= here) + sorted((f for f in calls if f < here), reverse=True)
        out.append(([here + 4, SEP] + [f + 4 for f in calls], [f + 4 for f in order]))
    return out


def make_batch(items: list, bug: str = "none") -> Calls:
    s_w, t_w = max(len(s) for s, _ in items), max(len(t) for _, t in items) + 1
    src, tin, tout = (torch.full((len(items), w), PAD) for w in (s_w, t_w, t_w))
    for i, (s, t) in enumerate(items):
        if bug == "source_reversed_in_training":
            s = s[::-1]  # BUG source_reversed_in_training: Sutskever's source reversal added to the training batches only (evaluation builds its batches unreversed)
        src[i, :len(s)] = torch.tensor(s)
        tin[i, :len(t) + 1] = torch.tensor([BOS] + t)
        tout[i, :len(t) + 1] = torch.tensor(t + [EOS])
    return Calls(src, torch.tensor([len(s) for s, _ in items]), tin, tout)


class Dispatcher(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.emb = nn.Embedding(VOCAB, E, padding_idx=PAD)
        self.enc, self.dec = nn.LSTM(E, H, batch_first=True), nn.LSTM(E, H)
        self.w = nn.Linear(H, H, bias=False)
        self.out = nn.Linear(2 * H, VOCAB)
        if bug == "lstm_uniform_0.8":
            [nn.init.uniform_(p, -0.8, 0.8) for lstm in (self.enc, self.dec) for p in lstm.parameters()]  # BUG lstm_uniform_0.8: uniform_(p, -0.8, 0.8), the recipe's (-0.08, 0.08) mistyped

    def forward(self, src, src_len, tin):  # -> (T, B, VOCAB) logits, time-major
        packed = pack_padded_sequence(self.emb(src), src_len.cpu(), batch_first=True, enforce_sorted=False)
        mem, state = self.enc(packed)
        mem, _ = pad_packed_sequence(mem, batch_first=True, total_length=src.shape[1])   # (B, S, H)
        dec, _ = self.dec(self.emb(tin.t()), state)                                      # (T, B, H)
        real = src != PAD
        s = self.w(dec).transpose(0, 1) @ mem.transpose(1, 2)                            # (B, T, S)
        if self.bug == "source_mask_inverted":
            s = s.masked_fill(real[:, None, :], float("-inf"))  # BUG source_mask_inverted: the mask fills the real positions (real where ~real was meant)
        else:
            s = s.masked_fill(~real[:, None, :], float("-inf"))
        ctx = (s.softmax(-1) @ mem).transpose(0, 1)                                      # (T, B, H)
        return self.out(torch.cat([dec, ctx], -1))


def order_loss(logits, tout, bug: str = "none"):
    if bug == "time_major_flattened":
        return F.cross_entropy(logits.reshape(-1, VOCAB), tout.reshape(-1), ignore_index=PAD)  # BUG time_major_flattened: the (T, B, V) logits flattened without the transpose to batch-first, against (B, T) targets
    return F.cross_entropy(logits.transpose(0, 1).reshape(-1, VOCAB), tout.reshape(-1), ignore_index=PAD)


class ElevatorTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "elevator")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        items = self.train[:n]
        model = Dispatcher(self.bug)
        bug = self.bug
        train_eval, val_eval = make_batch(items[:500]), make_batch(self.val)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    src, tin, tout = (on_device_of(model, t) for t in (b.src, b.tgt_in, b.tgt_out))
                    logits = model(src, b.src_len, tin).transpose(0, 1)
                    out.update(sequence_metrics(split, logits, tout, PAD))
            return out

        return Problem(model=model, train_size=n,
                       get_batch=lambda idx: make_batch([items[i] for i in idx.tolist()], bug),
                       loss=lambda model, b: order_loss(model(b.src, b.src_len, b.tgt_in), b.tgt_out, bug),
                       evaluate=evaluate, chance_loss=math.log(VOCAB),
                       forward=lambda model, b: model(b.src, b.src_len, b.tgt_in).transpose(0, 1),
                       targets=lambda b: b.tgt_out)
