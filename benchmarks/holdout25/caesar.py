"""Held-out-25 family 3: a GRU encoder-decoder with masked dot attention deciphering keyed Caesar ciphers.

An alphabet of 12 letters; a plaintext of 3..8 letters, a key s in 1..3; the source is the key token then the
ciphertext (each letter shifted by +s mod 12), the target the plaintext then EOS; the decoder reads BOS then the
target but the last (teacher forcing). Ids: PAD 0, BOS 1, EOS 2, letters 3..14, keys 15..17 (one vocabulary).
Torch seed 0: 3000 training and 500 validation pairs. Dict batches {src (B, S), src_len (B,), tgt_in (B, T), tgt (B, T)},
right-padded with PAD. Model: an embedding (32) and a GRU encoder (128) run over the padded source, its state at each
example's last real position starting the decoder GRU (embedding 32, hidden 128); Luong dot attention of each
decoder output over the encoder outputs, padding keys masked with -inf; a linear layer on [decoder output; context]
to the 18 ids. Cross-entropy, PAD ignored. Adam at 0.003. Metrics: token loss and accuracy over non-PAD targets
(train: the stage's first 400), val/exact (whole plaintexts, teacher forced). Each bug is one line, marked
`# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "targets_fetched_sorted", "ignore_index_eos", "decoder_under_no_grad", "gru_bias_5",
        "attention_without_pad_mask")
PAD, BOS, EOS, LETTER, KEY = 0, 1, 2, 3, 15
LETTERS, KEYS, E, H = 12, 3, 32, 128
V = KEY + KEYS
N_TRAIN, N_VAL = 3000, 500


def draw(n: int, g: torch.Generator) -> list[tuple[list[int], list[int]]]:
    out = []
    for _ in range(n):
        length = int(torch.randint(3, 9, (1,), generator=g))
        plain = torch.randint(0, LETTERS, (length,), generator=g)
        s = int(torch.randint(1, KEYS + 1, (1,), generator=g))
        cipher = (plain + s) % LETTERS
        out.append(([KEY + s - 1] + (LETTER + cipher).tolist(), (LETTER + plain).tolist() + [EOS]))
    return out


def make_batch(srcs: list, tgts: list) -> dict:
    s_w, t_w = max(len(s) for s in srcs), max(len(t) for t in tgts)
    src, tgt_in, tgt = (torch.full((len(srcs), w), PAD) for w in (s_w, t_w, t_w))
    for i, (s, t) in enumerate(zip(srcs, tgts)):
        src[i, :len(s)] = torch.tensor(s)
        tgt[i, :len(t)] = torch.tensor(t)
        tgt_in[i, :len(t)] = torch.tensor([BOS] + t[:-1])
    return {"src": src, "src_len": torch.tensor([len(s) for s in srcs]), "tgt_in": tgt_in, "tgt": tgt}


class CaesarSeq2Seq(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.src_emb, self.tgt_emb = nn.Embedding(V, E, padding_idx=PAD), nn.Embedding(V, E, padding_idx=PAD)
        self.encoder = nn.GRU(E, H, batch_first=True)
        self.decoder = nn.GRU(E, H, batch_first=True)
        self.out = nn.Linear(2 * H, V)
        if bug == "gru_bias_5":
            for name, p in self.encoder.named_parameters():
                if "bias" in name:
                    nn.init.constant_(p, 5.0)  # noqa: E501  BUG gru_bias_5: a "remember by default" bias of 5 on every GRU bias

    def forward(self, src, src_len, tgt_in):  # -> (B, T, V) logits
        enc, _ = self.encoder(self.src_emb(src))                               # (B, S, H)
        h0 = enc[torch.arange(len(src), device=src.device), src_len - 1][None]  # (1, B, H)
        if self.bug == "decoder_under_no_grad":
            with torch.no_grad():  # BUG decoder_under_no_grad: the teacher-forced decoder run without gradients
                dec, _ = self.decoder(self.tgt_emb(tgt_in), h0)
        else:
            dec, _ = self.decoder(self.tgt_emb(tgt_in), h0)                    # (B, T, H)
        scores = dec @ enc.transpose(1, 2)                                     # (B, T, S)
        if self.bug != "attention_without_pad_mask":  # BUG attention_without_pad_mask: (the line skipped)
            scores = scores.masked_fill((src == PAD)[:, None, :], float("-inf"))
        context = scores.softmax(-1) @ enc
        return self.out(torch.cat([dec, context], -1))


class CaesarTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "caesar")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        pairs = self.train[:n]
        model = CaesarSeq2Seq(self.bug)
        train_eval = make_batch(*zip(*pairs[:400]))
        val_eval = make_batch(*zip(*self.val))

        def get_batch(idx):
            order = idx.tolist()
            if self.bug == "targets_fetched_sorted":
                return make_batch([pairs[i][0] for i in order], [pairs[i][1] for i in sorted(order)])  # noqa: E501  BUG targets_fetched_sorted: the targets fetched in sorted index order
            return make_batch([pairs[i][0] for i in order], [pairs[i][1] for i in order])

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
            ignore = EOS if self.bug == "ignore_index_eos" else PAD  # BUG ignore_index_eos: EOS typed for PAD
            return F.cross_entropy(run(model, b).flatten(0, 1), b["tgt"].flatten(), ignore_index=ignore)

        return Problem(model=model, train_size=n, get_batch=get_batch, loss=loss, evaluate=evaluate,
                       chance_loss=math.log(LETTERS + 1), forward=run, targets=lambda b: b["tgt"])
