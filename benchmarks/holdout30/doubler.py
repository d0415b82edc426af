"""Held-out-30 family 3: an LSTM encoder-decoder with masked dot attention writing each letter of a word twice
(`abc` -> `aabbcc`).

A source is 3..7 letters of 8 (a..h); the target is each letter repeated, then EOS. Source ids: PAD 0, letters 1..8;
target ids: PAD 0, BOS 1, EOS 2, letters 3..10. Torch seed 0: 3000 training and 500 validation pairs. Dict batches
{src (B, S), src_len (B,), tgt_in (B, T), tgt (B, T)}, right-padded; the decoder reads BOS then the target but its
last token (teacher forcing). Model: embeddings of 32; an LSTM encoder (128) run over the packed source, its final
(h, c) starting an LSTM decoder (128); dot attention of each decoder output over the encoder outputs, padding keys
masked with -inf and the softmax over the keys; Linear(256, 128) - tanh on [decoder output; context], then a linear
layer to the target ids. Cross-entropy, PAD ignored; Adam at 0.003. Metrics: token loss and accuracy over non-PAD
targets (train: the stage's first 400 pairs) and val/exact. Each bug is one line, marked `# BUG <name>`.
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

BUGS = ("none", "sources_sorted_alone", "attention_unmasked", "loss_on_tgt_in", "decoder_hh_constant", "encoder_outputs_detached")
LETTERS = 8
PAD, BOS, EOS = 0, 1, 2
SRC_V, TGT_V = 1 + LETTERS, 3 + LETTERS
E, H = 32, 128
N_TRAIN, N_VAL = 3000, 500


def draw(n: int, g: torch.Generator) -> list[tuple[list[int], list[int]]]:
    out = []
    for _ in range(n):
        length = int(torch.randint(3, 8, (1,), generator=g))
        letters = torch.randint(0, LETTERS, (length,), generator=g).tolist()
        out.append(([1 + c for c in letters], [3 + c for c in letters for _ in range(2)] + [EOS]))
    return out


def make_batch(srcs: list, tgts: list, bug: str) -> dict:
    if bug == "sources_sorted_alone":
        srcs = sorted(srcs, key=len, reverse=True)  # BUG sources_sorted_alone: sources sorted by length, targets not
    s_w, t_w = max(len(s) for s in srcs), max(len(t) for t in tgts)
    src, tgt_in, tgt = (torch.full((len(srcs), w), PAD) for w in (s_w, t_w, t_w))
    for i, (s, t) in enumerate(zip(srcs, tgts)):
        src[i, :len(s)] = torch.tensor(s)
        tgt[i, :len(t)] = torch.tensor(t)
        tgt_in[i, :len(t)] = torch.tensor([BOS] + t[:-1])
    return {"src": src, "src_len": torch.tensor([len(s) for s in srcs]), "tgt_in": tgt_in, "tgt": tgt}


class Doubler(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.src_emb = nn.Embedding(SRC_V, E, padding_idx=PAD)
        self.tgt_emb = nn.Embedding(TGT_V, E, padding_idx=PAD)
        self.encoder = nn.LSTM(E, H, batch_first=True)
        self.decoder = nn.LSTM(E, H, batch_first=True)
        if bug == "decoder_hh_constant":
            nn.init.constant_(self.decoder.weight_hh_l0, 0.5)  # BUG decoder_hh_constant: recurrent weights all 0.5
        self.combine = nn.Linear(2 * H, H)
        self.out = nn.Linear(H, TGT_V)

    def forward(self, src, src_len, tgt_in):  # -> (B, T, TGT_V) logits
        packed, state = self.encoder(pack_padded_sequence(self.src_emb(src), src_len.cpu(), batch_first=True,
                                                          enforce_sorted=False))
        enc, _ = pad_packed_sequence(packed, batch_first=True, total_length=src.shape[1])
        if self.bug == "encoder_outputs_detached":
            enc = enc.detach()  # BUG encoder_outputs_detached: attention reads the encoder outputs without gradient
        dec, _ = self.decoder(self.tgt_emb(tgt_in), state)                               # (B, T, H)
        scores = dec @ enc.transpose(1, 2)                                               # (B, T, S)
        padding = torch.arange(src.shape[1], device=src.device)[None] >= src_len[:, None]
        if self.bug != "attention_unmasked":
            scores = scores.masked_fill(padding[:, None, :], float("-inf"))  # BUG attention_unmasked: line skipped
        weights = scores.softmax(-1)
        return self.out(torch.tanh(self.combine(torch.cat([dec, weights @ enc], -1))))


class DoublerTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "doubler")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        pairs = self.train[:n]
        model = Doubler(self.bug)
        train_eval, val_eval = make_batch(*zip(*pairs[:400]), self.bug), make_batch(*zip(*self.val), self.bug)

        def get_batch(idx):
            chosen = [pairs[i] for i in idx.tolist()]
            return make_batch([s for s, _ in chosen], [t for _, t in chosen], self.bug)

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
            if self.bug == "loss_on_tgt_in":
                return F.cross_entropy(run(model, b).flatten(0, 1), b["tgt_in"].flatten(), ignore_index=PAD)  # BUG
            return F.cross_entropy(run(model, b).flatten(0, 1), b["tgt"].flatten(), ignore_index=PAD)

        return Problem(model=model, train_size=n, get_batch=get_batch, loss=loss,
                       evaluate=evaluate, chance_loss=math.log(TGT_V), forward=run, targets=lambda b: b["tgt"])
