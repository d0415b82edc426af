"""Held-out-19 family 3: an LSTM encoder-decoder with Bahdanau (additive) attention converting dates to ISO form.

Each example is a random date from 1950-01-01 to 2049-12-28 (days 1..28) written in one of four formats, chosen
at random: "3 mar 1998", "03/03/1998", "march 3, 1998", "1998.03.03" (10..18 characters); the target is
"1998-03-03" then EOS. Characters: 0 PAD, 1 BOS, 2 EOS, then " ,./-", digits and letters. A batch holds the
sources right-padded (`src`) with their lengths (`src_len`), the decoder input BOS + the target but its last
token (`tgt_in`) and the target (`tgt`). Model: character embeddings (32, PAD row zero); a bidirectional LSTM
encoder (2 x 64) over the packed sources; its final states (both directions) -> linear - tanh start an LSTMCell
decoder (128) run step by step with teacher forcing; at each step additive attention scores v . tanh(W s + U
enc_j) over the source positions (padding set to -inf by masked_fill), a softmax over the source positions, the
context fed to the next step's input beside the character embedding; output linear [s; context] -> vocabulary.
Loss: cross-entropy over the targets, PAD ignored. Adam at 0.003. Dict batches {src, src_len, tgt_in, tgt}.
Metrics: teacher-forced token accuracy and loss; goal: validation token accuracy.
Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "pad_mask_inverted", "loss_on_decoder_input", "attention_softmax_over_batch")
PAD, BOS, EOS = 0, 1, 2
CHARS = " ,./-0123456789abcdefghijklmnopqrstuvwxyz"
VOCAB = len(CHARS) + 3
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")
EMB, ENC, DEC, ATT = 32, 64, 128, 64
DATA_SEED, N_TRAIN, N_VAL = 0, 3000, 400


def encode(text: str) -> list[int]:
    return [CHARS.index(c) + 3 for c in text]


def examples(n: int, g: torch.Generator):
    sources, targets = [], []
    for _ in range(n):
        year, month, day, fmt = (int(torch.randint(lo, hi, (1,), generator=g))
                                 for lo, hi in ((1950, 2050), (1, 13), (1, 29), (0, 4)))
        name = MONTHS[month - 1]
        text = (f"{day} {name[:3]} {year}", f"{day:02d}/{month:02d}/{year}", f"{name} {day}, {year}",
                f"{year}.{month:02d}.{day:02d}")[fmt]
        sources.append(torch.tensor(encode(text)))
        targets.append(torch.tensor(encode(f"{year}-{month:02d}-{day:02d}") + [EOS]))
    return sources, targets


def make_batch(sources: list[torch.Tensor], targets: list[torch.Tensor]) -> dict:
    src = nn.utils.rnn.pad_sequence(sources, batch_first=True, padding_value=PAD)
    tgt = nn.utils.rnn.pad_sequence(targets, batch_first=True, padding_value=PAD)
    tgt_in = torch.cat([torch.full((len(tgt), 1), BOS), tgt[:, :-1]], 1)
    return {"src": src, "src_len": torch.tensor([len(s) for s in sources]), "tgt_in": tgt_in, "tgt": tgt}


class DateConverter(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.src_embed = nn.Embedding(VOCAB, EMB, padding_idx=PAD)
        self.tgt_embed = nn.Embedding(VOCAB, EMB, padding_idx=PAD)
        self.encoder = nn.LSTM(EMB, ENC, batch_first=True, bidirectional=True)
        self.bridge = nn.Linear(2 * ENC, 2 * DEC)
        self.cell = nn.LSTMCell(EMB + 2 * ENC, DEC)
        self.w_query, self.w_key = nn.Linear(DEC, ATT, bias=False), nn.Linear(2 * ENC, ATT)
        self.v = nn.Linear(ATT, 1, bias=False)
        self.out = nn.Linear(DEC + 2 * ENC, VOCAB)

    def attend(self, s, enc, keys, pad):  # s (B, DEC), enc (B, S, 2 ENC), keys (B, S, ATT), pad (B, S)
        scores = self.v(torch.tanh(self.w_query(s)[:, None, :] + keys)).squeeze(-1)  # (B, S)
        scores = scores.masked_fill(pad, float("-inf"))
        weights = scores.softmax(-1)
        if self.bug == "attention_softmax_over_batch":
            weights = scores.softmax(0)  # noqa: E501  BUG attention_softmax_over_batch: normalised over the batch, not the source positions
        return (weights[:, :, None] * enc).sum(1)

    def forward(self, src, src_len, tgt_in):  # -> (B, T, VOCAB)
        pad = src == PAD
        if self.bug == "pad_mask_inverted":
            pad = src != PAD  # BUG pad_mask_inverted: the mask marks the real positions instead of the padding
        packed = nn.utils.rnn.pack_padded_sequence(self.src_embed(src), src_len.cpu(), batch_first=True,
                                                   enforce_sorted=False)
        enc, (h, _) = self.encoder(packed)
        enc, _ = nn.utils.rnn.pad_packed_sequence(enc, batch_first=True, total_length=src.shape[1])
        s, c = torch.tanh(self.bridge(torch.cat([h[0], h[1]], -1))).chunk(2, -1)
        s, c = s.contiguous(), c.contiguous()
        keys = self.w_key(enc)
        context = self.attend(s, enc, keys, pad)
        outputs = []
        for t in range(tgt_in.shape[1]):
            s, c = self.cell(torch.cat([self.tgt_embed(tgt_in[:, t]), context], -1), (s, c))
            context = self.attend(s, enc, keys, pad)
            outputs.append(self.out(torch.cat([s, context], -1)))
        return torch.stack(outputs, 1)


class DateFmtTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "datefmt")
        g = torch.Generator().manual_seed(DATA_SEED)
        self.train, self.val = examples(N_TRAIN, g), examples(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        sources, targets = self.train[0][:n], self.train[1][:n]
        model = DateConverter(self.bug)
        train_eval, val_eval = make_batch(sources[:400], targets[:400]), make_batch(*self.val)

        def forward(model, b):
            return model(b["src"], b["src_len"], b["tgt_in"])

        def loss(model, b):
            logits = forward(model, b).flatten(0, 1)
            if self.bug == "loss_on_decoder_input":
                return F.cross_entropy(logits, b["tgt_in"].flatten(), ignore_index=PAD)  # noqa: E501  BUG loss_on_decoder_input: each step scored against its own input token, not the next one
            return F.cross_entropy(logits, b["tgt"].flatten(), ignore_index=PAD)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    out.update(sequence_metrics(split, forward(model, b), b["tgt"], PAD))
            return out

        def get_batch(idx):
            return make_batch([sources[i] for i in idx.tolist()], [targets[i] for i in idx.tolist()])

        return Problem(model=model, train_size=n, get_batch=get_batch, loss=loss, evaluate=evaluate,
                       chance_loss=math.log(VOCAB), forward=forward, targets=lambda b: b["tgt"])
