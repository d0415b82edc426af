"""Held-out-23 family 3: an LSTM encoder-decoder with dot attention adding two numbers written as digit strings.

Source: "a+b" with a, b in 0..99 (3..5 characters: digits, '+'; PAD = 0), target: the digits of a + b then EOS (2..4
tokens); the decoder reads BOS then the target but the last (teacher forcing). Pairs drawn with torch seed 0 from
the 10000 (3000 training, 400 validation, disjoint). Dict batches {src (B, S), src_len (B,), tgt_in (B, T),
tgt (B, T)}, right-padded with PAD = 0. Model (emb 32, hidden 64): an LSTM encoder over the packed source, the
decoder LSTM started from the encoder's final (h, c), dot attention of each decoder state over the encoder states
(source padding masked_fill -inf), tanh(W [h; context]) -> linear to the 13 target tokens. Loss: cross-entropy, PAD
ignored. Adam at 0.01. Metrics: token loss and accuracy (train on the first 400), exact sums (val). Each bug is
one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from benchmarks.bugsuite.common import check_bug, evaluating, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "pad_mask_added_as_bool", "targets_flattened_time_major", "val_answers_rolled",
        "decoder_lstm_uniform_3")
PAD, BOS, EOS = 0, 1, 2  # target ids; digits are 3..12. Source: PAD 0, digits 1..10, '+' 11
PLUS = 11
E, H = 32, 64
N_TRAIN, N_VAL = 3000, 400


def pair(a: int, b: int) -> tuple[list[int], list[int]]:
    """Every number written least significant digit first (the usual trick that aligns the digits)."""
    return ([1 + int(c) for c in str(a)[::-1]] + [PLUS] + [1 + int(c) for c in str(b)[::-1]],
            [3 + int(c) for c in str(a + b)[::-1]] + [EOS])


def make_batch(pairs: list) -> dict:
    s_w, t_w = max(len(s) for s, _ in pairs), max(len(t) for _, t in pairs)
    src, tgt_in, tgt = (torch.full((len(pairs), w), PAD) for w in (s_w, t_w, t_w))
    for i, (s, t) in enumerate(pairs):
        src[i, :len(s)] = torch.tensor(s)
        tgt[i, :len(t)] = torch.tensor(t)
        tgt_in[i, :len(t)] = torch.tensor([BOS] + t[:-1])
    return {"src": src, "src_len": torch.tensor([len(s) for s, _ in pairs]), "tgt_in": tgt_in, "tgt": tgt}


class Adder(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.src_emb, self.tgt_emb = nn.Embedding(12, E), nn.Embedding(13, E)
        self.encoder, self.decoder = nn.LSTM(E, H, batch_first=True), nn.LSTM(E, H, batch_first=True)
        if bug == "decoder_lstm_uniform_3":
            for p in self.decoder.parameters():
                nn.init.uniform_(p, -3, 3)  # BUG decoder_lstm_uniform_3: the decoder's weights drawn uniform(-3, 3)
        self.combine = nn.Linear(2 * H, H)
        self.out = nn.Linear(H, 13)

    def forward(self, src, src_len, tgt_in):  # -> (B, T, 13) logits
        s = src.shape[1]
        packed = pack_padded_sequence(self.src_emb(src), src_len.cpu(), batch_first=True, enforce_sorted=False)
        enc, state = self.encoder(packed)
        enc, _ = pad_packed_sequence(enc, batch_first=True, total_length=s)                # (B, S, H)
        dec, _ = self.decoder(self.tgt_emb(tgt_in), state)                                  # (B, T, H)
        scores = dec @ enc.transpose(1, 2)                                                  # (B, T, S)
        pad = torch.arange(s, device=src.device)[None, :] >= src_len[:, None]
        if self.bug == "pad_mask_added_as_bool":
            scores = scores + pad[:, None, :]  # BUG pad_mask_added_as_bool: the boolean padding mask added (+1), not -inf
        else:
            scores = scores.masked_fill(pad[:, None, :], float("-inf"))
        context = scores.softmax(-1) @ enc
        return self.out(torch.tanh(self.combine(torch.cat([dec, context], -1))))


class AdderTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "adder")
        g = torch.Generator().manual_seed(0)
        ids = torch.randperm(10000, generator=g)
        self.train = [pair(int(i) // 100, int(i) % 100) for i in ids[:N_TRAIN]]
        self.val = [pair(int(i) // 100, int(i) % 100) for i in ids[N_TRAIN:N_TRAIN + N_VAL]]
        if self.bug == "val_answers_rolled":
            self.val = [(s, t) for (s, _), (_, t) in zip(self.val, self.val[1:] + self.val[:1])]  # noqa: E501  BUG val_answers_rolled: each validation problem paired with the next one's answer

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        pairs = self.train[:n]
        model = Adder(self.bug)
        train_eval, val_eval = make_batch(pairs[:400]), make_batch(self.val)

        def run(model, b):
            return model(b["src"], b["src_len"], b["tgt_in"])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    out.update(sequence_metrics(split, run(model, b), b["tgt"], PAD))
            return out

        def loss(model, b):
            logits = run(model, b)
            if self.bug == "targets_flattened_time_major":
                return F.cross_entropy(logits.flatten(0, 1), b["tgt"].t().flatten(), ignore_index=PAD)  # noqa: E501  BUG targets_flattened_time_major: targets flattened (T, B) against (B, T) logits
            return F.cross_entropy(logits.flatten(0, 1), b["tgt"].flatten(), ignore_index=PAD)

        return Problem(model=model, train_size=n,
                       get_batch=lambda idx: make_batch([pairs[i] for i in idx.tolist()]),
                       loss=loss, evaluate=evaluate, chance_loss=math.log(11),
                       forward=run, targets=lambda b: b["tgt"])
