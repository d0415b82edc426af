"""Held-out-33 family 3: a GRU encoder-decoder with attention normalising dates written three ways to ISO digits
(`7 mar 1994`, `mar 7 , 1994`, `1994 - 3 - 7` -> `1 9 9 4 0 3 0 7`).

A date: a year 1950..2049, a month 1..12, a day 1..28, one of three formats. Source tokens: PAD 0, the digits 0..9
(1..10), a day token per day (11..38), a month-name token per month (39..50), a month-number token per month
(51..62), `,` 63, `-` 64; the year is written as its four digits, so sources are 6, 7 or 8 tokens. Target: the eight
digits YYYYMMDD, then EOS; ids PAD 0, BOS 1, EOS 2, digits 3..12. Torch seed 0: 3000 training and 500 validation
pairs. Dict batches {src (B, S), tgt_in (B, T), tgt (B, T)}, right-padded; teacher forcing (the decoder reads BOS then
the target but its last token). Model: embeddings of 32; a GRU encoder (96) over the source; the decoder GRU (96)
starts from the mean of the encoder's outputs over the real (non-PAD) positions; Luong attention (a Linear query
projection, scores against the encoder outputs, PAD keys masked with -inf, softmax); a Linear(192, 13) on [decoder
state, context]. Cross-entropy, PAD ignored; Adam at 0.003. Metrics: token loss and accuracy over non-PAD targets
(train: the stage's first 400 pairs) and val/exact. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "mean_mask_inverted", "context_replaced_by_state", "targets_time_major", "out_std4",
        "targets_of_last_date")
PAD, BOS, EOS = 0, 1, 2
DIGIT, DAY, MONTH_NAME, MONTH_NUM, COMMA, DASH = 1, 11, 39, 51, 63, 64
SRC_V, TGT_V = 65, 13
E, H = 32, 96
N_TRAIN, N_VAL = 3000, 500


def source(y: int, m: int, d: int, fmt: int) -> list[int]:
    year = [DIGIT + int(ch) for ch in str(y)]
    if fmt == 0:
        return [DAY + d - 1, MONTH_NAME + m - 1] + year
    if fmt == 1:
        return [MONTH_NAME + m - 1, DAY + d - 1, COMMA] + year
    return year + [DASH, MONTH_NUM + m - 1, DASH, DAY + d - 1]


def target(y: int, m: int, d: int) -> list[int]:
    return [3 + int(ch) for ch in f"{y:04d}{m:02d}{d:02d}"] + [EOS]


def draw(n: int, g: torch.Generator, bug: str) -> list[tuple[list[int], list[int]]]:
    srcs = []
    for _ in range(n):
        y, m, d, fmt = (int(torch.randint(lo, hi, (1,), generator=g)) for lo, hi in ((1950, 2050), (1, 13), (1, 29), (0, 3)))
        srcs.append((source(y, m, d, fmt), (y, m, d)))
    if bug == "targets_of_last_date":
        return [(s, target(y, m, d)) for s, _ in srcs]  # BUG targets_of_last_date: the loop's last date for every pair
    return [(s, target(*date)) for s, date in srcs]


def make_batch(srcs: list, tgts: list) -> dict:
    s_w, t_w = max(len(s) for s in srcs), max(len(t) for t in tgts)
    src, tgt_in, tgt = (torch.full((len(srcs), w), PAD) for w in (s_w, t_w, t_w))
    for i, (s, t) in enumerate(zip(srcs, tgts)):
        src[i, :len(s)] = torch.tensor(s)
        tgt[i, :len(t)] = torch.tensor(t)
        tgt_in[i, :len(t)] = torch.tensor([BOS] + t[:-1])
    return {"src": src, "tgt_in": tgt_in, "tgt": tgt}


class DateNormaliser(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.src_emb = nn.Embedding(SRC_V, E, padding_idx=PAD)
        self.tgt_emb = nn.Embedding(TGT_V, E, padding_idx=PAD)
        self.encoder = nn.GRU(E, H, batch_first=True)
        self.decoder = nn.GRU(E, H, batch_first=True)
        self.query = nn.Linear(H, H)
        self.out = nn.Linear(2 * H, TGT_V)
        if bug == "out_std4":
            nn.init.normal_(self.out.weight, std=4.0)  # BUG out_std4: std 4 instead of U(-1/sqrt(192), ..) (std 0.042)

    def forward(self, src, tgt_in):  # -> (B, T, TGT_V) logits
        enc, _ = self.encoder(self.src_emb(src))
        real = src != PAD
        if self.bug == "mean_mask_inverted":
            keep = src == PAD  # BUG mean_mask_inverted: the mean over the padding positions
        else:
            keep = real
        h0 = (enc * keep[..., None]).sum(1) / keep.sum(1, keepdim=True)
        dec, _ = self.decoder(self.tgt_emb(tgt_in), h0[None].contiguous())
        scores = self.query(dec) @ enc.transpose(1, 2)  # (B, T, S)
        ctx = scores.masked_fill(~real[:, None, :], float("-inf")).softmax(-1) @ enc
        if self.bug == "context_replaced_by_state":
            return self.out(torch.cat([dec, dec], -1))  # BUG context_replaced_by_state: the context computed, dropped
        return self.out(torch.cat([dec, ctx], -1))


class DatesTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "dates")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g, self.bug), draw(N_VAL, g, self.bug)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        pairs = self.train[:n]
        model = DateNormaliser(self.bug)
        train_eval, val_eval = make_batch(*zip(*pairs[:400])), make_batch(*zip(*self.val))

        def get_batch(idx):
            chosen = [pairs[i] for i in idx.tolist()]
            return make_batch([s for s, _ in chosen], [t for _, t in chosen])

        def run(model, b):
            return model(b["src"], b["tgt_in"])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    b = on_device_of(model, b)
                    out.update(sequence_metrics(split, run(model, b), b["tgt"], PAD))
            return out

        def loss(model, b):
            logits = run(model, b)
            if self.bug == "targets_time_major":
                return F.cross_entropy(logits.flatten(0, 1), b["tgt"].t().flatten(), ignore_index=PAD)  # BUG time-major
            return F.cross_entropy(logits.flatten(0, 1), b["tgt"].flatten(), ignore_index=PAD)

        return Problem(model=model, train_size=n, get_batch=get_batch, loss=loss,
                       evaluate=evaluate, chance_loss=math.log(10), forward=run, targets=lambda b: b["tgt"])
