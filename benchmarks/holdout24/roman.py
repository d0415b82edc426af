"""Held-out-24 family 3: an LSTM encoder-decoder writing numbers 1..3999 as Roman numerals.

Source: the decimal digits of n (1..4 tokens: ids 1..10 for 0..9, PAD 0); target: its Roman numeral (1..15 of
I V X L C D M, ids 3..9) then EOS (2); the decoder reads BOS (1) then the target but the last (teacher forcing).
Torch seed 0 splits 1..3999 into 3200 training and 799 validation numbers. Batches are sorted by source length,
longest first (the encoder packs them with enforce_sorted=True), every tensor in the same order. Dict batches
{src (B, S), src_len (B,), tgt_in (B, T), tgt (B, T)}, right-padded with PAD. Model (Cho et al. 2014's context at
every step): an embedding (32) and an LSTM encoder (128) over the packed source; its last layer's final hidden
state is the context c; the decoder LSTM (128) starts from (tanh(W c), 0) and reads [target embedding (32); c] at
every step; a linear layer to the 10 target ids. Loss: cross-entropy, PAD ignored. Adam at 0.003. Metrics: token
loss and accuracy over non-PAD targets (train: the stage's first 400), val/exact (whole numerals, teacher forced).
Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "sorted_without_targets", "target_shifted_twice", "freeze_flag_inverted", "context_from_last_output",
        "out_bias_from_counts")
PAD, BOS, EOS = 0, 1, 2
LETTERS = "IVXLCDM"
E, H, V_SRC, V_TGT = 32, 128, 11, 10
N_TRAIN = 3200
FREEZE_ENCODER = False  # an option for fine-tuning the decoder alone; off here


def roman(n: int) -> str:
    out = ""
    for value, sym in ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"), (50, "L"),
                       (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):
        while n >= value:
            out, n = out + sym, n - value
    return out


def pair(n: int) -> tuple[list[int], list[int]]:
    return [1 + int(c) for c in str(n)], [3 + LETTERS.index(c) for c in roman(n)] + [EOS]


def make_batch(pairs: list, bug: str = "none") -> dict:
    s_w, t_w = max(len(s) for s, _ in pairs), max(len(t) for _, t in pairs)
    src, tgt_in, tgt = (torch.full((len(pairs), w), PAD) for w in (s_w, t_w, t_w))
    for i, (s, t) in enumerate(pairs):
        src[i, :len(s)] = torch.tensor(s)
        tgt[i, :len(t)] = torch.tensor(t)
        tgt_in[i, :len(t)] = torch.tensor([BOS] + t[:-1])
    batch = {"src": src, "src_len": torch.tensor([len(s) for s, _ in pairs]), "tgt_in": tgt_in, "tgt": tgt}
    order = batch["src_len"].argsort(descending=True, stable=True)
    if bug == "sorted_without_targets":
        return {**batch, "src": src[order], "src_len": batch["src_len"][order]}  # noqa: E501  BUG sorted_without_targets: only the source side reordered
    return {k: v[order] for k, v in batch.items()}


class RomanSeq2Seq(nn.Module):
    def __init__(self, bug: str, counts: torch.Tensor):
        super().__init__()
        self.bug = bug
        self.src_emb, self.tgt_emb = nn.Embedding(V_SRC, E, padding_idx=PAD), nn.Embedding(V_TGT, E, padding_idx=PAD)
        self.encoder = nn.LSTM(E, H, batch_first=True)
        if bug == "freeze_flag_inverted":
            self.encoder.requires_grad_(FREEZE_ENCODER)  # noqa: E501  BUG freeze_flag_inverted: requires_grad_(flag), not (not flag)
        else:
            self.encoder.requires_grad_(not FREEZE_ENCODER)
        self.bridge = nn.Linear(H, H)
        self.decoder = nn.LSTM(E + H, H, batch_first=True)
        self.out = nn.Linear(H, V_TGT)
        if bug == "out_bias_from_counts":
            self.out.bias.data.copy_(counts)  # noqa: E501  BUG out_bias_from_counts: the targets' raw counts, not their log frequencies

    def forward(self, src, src_len, tgt_in):  # -> (B, T, V_TGT) logits
        packed = pack_padded_sequence(self.src_emb(src), src_len.cpu(), batch_first=True, enforce_sorted=True)
        enc, (h, _) = self.encoder(packed)
        context = h[-1]                                                         # (B, H)
        if self.bug == "context_from_last_output":
            context = pad_packed_sequence(enc, batch_first=True)[0][:, -1]  # noqa: E501  BUG context_from_last_output: the padded output's last column
        state = (torch.tanh(self.bridge(context))[None], torch.zeros_like(context)[None])
        t = tgt_in.shape[1]
        dec, _ = self.decoder(torch.cat([self.tgt_emb(tgt_in), context[:, None].expand(-1, t, -1)], -1), state)
        return self.out(dec)


class RomanTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "roman")
        g = torch.Generator().manual_seed(0)
        ids = (torch.randperm(3999, generator=g) + 1).tolist()
        self.train = [pair(n) for n in ids[:N_TRAIN]]
        self.val = [pair(n) for n in ids[N_TRAIN:]]
        counts = torch.bincount(torch.tensor([c for _, t in self.train for c in t]), minlength=V_TGT).float()
        self.counts = counts  # each target id's count in the training targets

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        pairs = self.train[:n]
        model = RomanSeq2Seq(self.bug, self.counts)
        train_eval, val_eval = make_batch(pairs[:400]), make_batch(self.val)

        def run(model, b):
            return model(b["src"], b["src_len"], b["tgt_in"])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    b = on_device_of(model, b)
                    out.update(sequence_metrics(split, run(model, b), b["tgt"], PAD))
            return out

        def loss(model, b):
            logits = run(model, b)
            if self.bug == "target_shifted_twice":
                return F.cross_entropy(logits[:, :-1].flatten(0, 1), b["tgt"][:, 1:].flatten(), ignore_index=PAD)  # noqa: E501  BUG target_shifted_twice: the targets shifted again, as for an LM
            return F.cross_entropy(logits.flatten(0, 1), b["tgt"].flatten(), ignore_index=PAD)

        return Problem(model=model, train_size=n, get_batch=lambda idx: make_batch([pairs[i] for i in idx.tolist()],
                                                                                  self.bug),
                       loss=loss, evaluate=evaluate, chance_loss=math.log(V_TGT - 2),
                       forward=run, targets=lambda b: b["tgt"])
