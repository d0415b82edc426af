"""Held-out-32 family 3: an LSTM encoder-decoder expanding a run-length code (`3a1c2b` -> `aaacbb`).

A source is 1..3 (count, letter) pairs, counts 1..3, letters of 5 (a..e); the target is the letters repeated, then
EOS (1..9 letters). Source ids: PAD 0, counts 1..3, letters 4..8; target ids: PAD 0, BOS 1, EOS 2, letters 3..7.
Torch seed 0: 3000 training and 500 validation pairs. Dict batches {src (B, S), src_len (B,), tgt_in (B, T),
tgt (B, T)}, right-padded; the decoder reads BOS then the target but its last token (teacher forcing). Model:
embeddings of 32; an LSTM encoder (128) over the packed source, its final (h, c) starting an LSTM decoder (128), no
attention; a linear layer to the 8 target ids. Cross-entropy, PAD ignored; Adam at 0.003. Metrics: token loss and
accuracy over non-PAD targets (train: the stage's first 400 pairs) and val/exact. Each bug is one line, marked
`# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "lengths_as_width", "loss_targets_lagged", "decoder_ih_uniform3", "decoder_state_not_passed")
LETTERS = 5
PAD, BOS, EOS = 0, 1, 2
SRC_V, TGT_V = 4 + LETTERS, 3 + LETTERS
E, H = 32, 128
N_TRAIN, N_VAL = 3000, 500


def draw(n: int, g: torch.Generator) -> list[tuple[list[int], list[int]]]:
    out = []
    for _ in range(n):
        pairs = int(torch.randint(1, 4, (1,), generator=g))
        counts = torch.randint(1, 4, (pairs,), generator=g).tolist()
        letters = torch.randint(0, LETTERS, (pairs,), generator=g).tolist()
        src = [t for c, l in zip(counts, letters) for t in (c, 4 + l)]
        out.append((src, [3 + l for c, l in zip(counts, letters) for _ in range(c)] + [EOS]))
    return out


def make_batch(srcs: list, tgts: list, bug: str) -> dict:
    s_w, t_w = max(len(s) for s in srcs), max(len(t) for t in tgts)
    src, tgt_in, tgt = (torch.full((len(srcs), w), PAD) for w in (s_w, t_w, t_w))
    for i, (s, t) in enumerate(zip(srcs, tgts)):
        src[i, :len(s)] = torch.tensor(s)
        tgt[i, :len(t)] = torch.tensor(t)
        tgt_in[i, :len(t)] = torch.tensor([BOS] + t[:-1])
    if bug == "lengths_as_width":
        src_len = torch.full((len(srcs),), s_w)  # BUG lengths_as_width: every length the padded width
    else:
        src_len = torch.tensor([len(s) for s in srcs])
    return {"src": src, "src_len": src_len, "tgt_in": tgt_in, "tgt": tgt}


class RLD(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.src_emb = nn.Embedding(SRC_V, E, padding_idx=PAD)
        self.tgt_emb = nn.Embedding(TGT_V, E, padding_idx=PAD)
        self.encoder = nn.LSTM(E, H, batch_first=True)
        self.decoder = nn.LSTM(E, H, batch_first=True)
        if bug == "decoder_ih_uniform3":
            nn.init.uniform_(self.decoder.weight_ih_l0, -3.0, 3.0)  # BUG decoder_ih_uniform3: U(-3, 3), not U(-1/sqrt(128), ..)
        self.out = nn.Linear(H, TGT_V)

    def forward(self, src, src_len, tgt_in):  # -> (B, T, TGT_V) logits
        _, state = self.encoder(pack_padded_sequence(self.src_emb(src), src_len.cpu(), batch_first=True,
                                                     enforce_sorted=False))
        if self.bug == "decoder_state_not_passed":
            dec, _ = self.decoder(self.tgt_emb(tgt_in))  # BUG decoder_state_not_passed: the encoder's state dropped
        else:
            dec, _ = self.decoder(self.tgt_emb(tgt_in), state)
        return self.out(dec)


class RLDTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "rld")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        pairs = self.train[:n]
        model = RLD(self.bug)
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
            logits = run(model, b)
            if self.bug == "loss_targets_lagged":
                return F.cross_entropy(logits[:, 1:].flatten(0, 1), b["tgt"][:, :-1].flatten(), ignore_index=PAD)  # BUG
            return F.cross_entropy(logits.flatten(0, 1), b["tgt"].flatten(), ignore_index=PAD)

        return Problem(model=model, train_size=n, get_batch=get_batch, loss=loss,
                       evaluate=evaluate, chance_loss=math.log(TGT_V), forward=run, targets=lambda b: b["tgt"])
