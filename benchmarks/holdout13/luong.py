"""Held-out-13 family 1: an LSTM encoder-decoder with Luong (dot-product) attention converting dates between formats.

Each source is a date written "7 march 1994" (day without a leading zero, the month's full name, the year 1900..2099:
10..17 characters, padded with PAD to 17); its target is "1994-03-07" (10 characters, then EOS). One character
vocabulary for both sides. Model: source and target embeddings (32), an LSTM encoder (64) over the packed source,
a LayerNorm on its outputs (the attention's memory), an LSTM decoder (64) started from the encoder's final state and
fed the target shifted right (BOS first: teacher forcing), Luong's global dot attention (score = decoder state .
memory, -inf at the padded source positions, softmax over the source), the attentional state tanh(W [context;
state]) and a linear output over the vocabulary; cross-entropy per target character. Dict batches {"src" (B, 17),
"src_len" (B,), "tgt_in" (B, 11), "tgt" (B, 11)}. Goal: validation exact match of greedy decoding.
Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import calendar
import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "sources_bucketed_alone", "mask_from_batch_max", "memory_norm_no_eps")
PAD, BOS, EOS = 0, 1, 2
CHARS = " -0123456789abcdefghijklmnopqrstuvwxyz"
VOCAB = 3 + len(CHARS)
MONTHS = [calendar.month_name[m].lower() for m in range(1, 13)]
MAX_SRC, TGT_LEN, EMB, HIDDEN = 17, 11, 32, 64
DATA_SEED, N_TRAIN, N_VAL = 0, 2000, 500


def encode(text: str) -> list[int]:
    return [3 + CHARS.index(c) for c in text]


def decode(ids) -> str:
    return "".join(CHARS[i - 3] if i >= 3 else "" for i in ids)


def dates(n: int, g: torch.Generator):
    day = torch.randint(1, 29, (n,), generator=g)
    month = torch.randint(1, 13, (n,), generator=g)
    year = torch.randint(1900, 2100, (n,), generator=g)
    src = torch.full((n, MAX_SRC), PAD)
    tgt = torch.empty(n, TGT_LEN, dtype=torch.long)
    src_len = torch.empty(n, dtype=torch.long)
    for i, (d, m, y) in enumerate(zip(day.tolist(), month.tolist(), year.tolist())):
        s = encode(f"{d} {MONTHS[m - 1]} {y}")
        src[i, :len(s)], src_len[i] = torch.tensor(s), len(s)
        tgt[i] = torch.tensor(encode(f"{y}-{m:02d}-{d:02d}") + [EOS])
    tgt_in = torch.cat([torch.full((n, 1), BOS), tgt[:, :-1]], 1)  # teacher forcing: the target shifted right
    return src, src_len, tgt_in, tgt


class LuongSeq2Seq(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.src_emb = nn.Embedding(VOCAB, EMB, padding_idx=PAD)
        self.tgt_emb = nn.Embedding(VOCAB, EMB)
        self.encoder = nn.LSTM(EMB, HIDDEN, batch_first=True)
        self.memory_norm = nn.LayerNorm(HIDDEN)
        self.decoder = nn.LSTM(EMB, HIDDEN, batch_first=True)
        self.combine = nn.Linear(2 * HIDDEN, HIDDEN)
        self.out = nn.Linear(HIDDEN, VOCAB)

    def encode(self, src, src_len):  # -> memory (B, S, H), valid (B, S), final (h, c)
        packed = pack_padded_sequence(self.src_emb(src), src_len.cpu(), batch_first=True, enforce_sorted=False)
        out, state = self.encoder(packed)
        enc, _ = pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])  # zeros at the padding
        memory = self.memory_norm(enc)
        if self.bug == "memory_norm_no_eps":
            memory = (enc - enc.mean(-1, keepdim=True)) / enc.std(-1, keepdim=True)  # BUG memory_norm_no_eps
        valid = torch.arange(src.shape[1], device=src.device) < src_len.to(src.device)[:, None]
        if self.bug == "mask_from_batch_max":
            valid = torch.arange(src.shape[1], device=src.device) < src_len.max().to(src.device)  # BUG mask_from_batch_max  # noqa: E501
        return memory, valid, state

    def attend(self, dec, memory, valid):  # Luong's global dot attention -> logits (B, T, V)
        scores = dec @ memory.transpose(1, 2)  # (B, T, S)
        scores = scores.masked_fill(~valid.expand(dec.shape[0], -1)[:, None, :], float("-inf"))
        context = scores.softmax(-1) @ memory
        return self.out(torch.tanh(self.combine(torch.cat([context, dec], -1))))

    def forward(self, src, src_len, tgt_in):  # teacher forcing
        memory, valid, state = self.encode(src, src_len)
        dec, _ = self.decoder(self.tgt_emb(tgt_in), state)
        return self.attend(dec, memory, valid)

    def greedy(self, src, src_len):  # (B, TGT_LEN) predicted ids
        memory, valid, state = self.encode(src, src_len)
        token = torch.full((src.shape[0], 1), BOS, device=src.device)
        out = []
        for _ in range(TGT_LEN):
            dec, state = self.decoder(self.tgt_emb(token), state)
            token = self.attend(dec, memory, valid).argmax(-1)
            out.append(token)
        return torch.cat(out, 1)


class LuongTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "luong")
        g = torch.Generator().manual_seed(DATA_SEED)
        src, src_len, tgt_in, tgt = dates(N_TRAIN, g)
        if bug == "sources_bucketed_alone":
            order = src_len.argsort(stable=True)
            src, src_len = src[order], src_len[order]  # BUG sources_bucketed_alone: sorted by length, targets not
        self.train = (src, src_len, tgt_in, tgt)
        self.val = dates(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        src, src_len, tgt_in, tgt = (t[:n] for t in self.train)
        model = LuongSeq2Seq(self.bug)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (s, sl, ti, t) in (("train", (src, src_len, tgt_in, tgt)), ("val", self.val)):
                    logits = model(s, sl, ti)
                    out[f"{split}/loss"] = F.cross_entropy(logits.flatten(0, 1), t.flatten()).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == t).float().mean().item()
                    if split == "val":
                        out["val/exact"] = (model.greedy(s, sl) == t).all(1).float().mean().item()
            return out

        def show(b):
            return [f"{decode(s[:n].tolist())} -> {decode(t.tolist())}"
                    for s, n, t in zip(b["src"], b["src_len"], b["tgt"])]

        def forward(model, b):
            return model(b["src"], b["src_len"], b["tgt_in"])

        return Problem(model=model, train_size=n,
                       get_batch=lambda idx: {"src": src[idx], "src_len": src_len[idx], "tgt_in": tgt_in[idx],
                                              "tgt": tgt[idx]},
                       loss=lambda model, b: F.cross_entropy(forward(model, b).flatten(0, 1), b["tgt"].flatten()),
                       evaluate=evaluate, chance_loss=math.log(VOCAB), forward=forward, targets=lambda b: b["tgt"],
                       show_batch=show)
