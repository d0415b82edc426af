"""Held-out-31 family 3: a GRU encoder-decoder with masked dot attention writing a word's letters in alphabetical
order (`dbca` -> `abcd`).

A source is 3..8 letters of 8 (a..h, repeats allowed); the target is its letters sorted, then EOS. Source ids: PAD
0, letters 1..8; target ids: PAD 0, BOS 1, EOS 2, letters 3..10. Torch seed 0: 3000 training and 500 validation
pairs. Dict batches {src (B, S), src_len (B,), tgt_in (B, T), tgt (B, T)}, right-padded; the decoder reads BOS then
the target but its last token (teacher forcing). Model: embeddings of 32; a GRU encoder (128) run over the packed
source, its final state starting a GRU decoder (128); dot attention of each decoder output over the encoder outputs,
padding keys masked with -inf, softmax over the keys; Linear(256, 128) - tanh on [decoder output; context], a linear
layer to the 11 target ids. Cross-entropy, PAD ignored; Adam at 0.003. Metrics: token loss and accuracy over
non-PAD targets (train: the stage's first 400 pairs) and val/exact. Each bug is one line, marked `# BUG <name>`.
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

BUGS = ("none", "tgt_in_unshifted", "attention_mask_inverted", "encoder_hh_gain10", "state_from_padded_end",
        "nll_on_probs")
LETTERS = 8
PAD, BOS, EOS = 0, 1, 2
SRC_V, TGT_V = 1 + LETTERS, 3 + LETTERS
E, H = 32, 128
N_TRAIN, N_VAL = 3000, 500


def draw(n: int, g: torch.Generator) -> list[tuple[list[int], list[int]]]:
    out = []
    for _ in range(n):
        length = int(torch.randint(3, 9, (1,), generator=g))
        letters = torch.randint(0, LETTERS, (length,), generator=g).tolist()
        out.append(([1 + c for c in letters], [3 + c for c in sorted(letters)] + [EOS]))
    return out


def make_batch(srcs: list, tgts: list, bug: str) -> dict:
    s_w, t_w = max(len(s) for s in srcs), max(len(t) for t in tgts)
    src, tgt_in, tgt = (torch.full((len(srcs), w), PAD) for w in (s_w, t_w, t_w))
    for i, (s, t) in enumerate(zip(srcs, tgts)):
        src[i, :len(s)] = torch.tensor(s)
        tgt[i, :len(t)] = torch.tensor(t)
        if bug == "tgt_in_unshifted":
            tgt_in[i, :len(t)] = torch.tensor(t)  # BUG tgt_in_unshifted: the decoder reads the target itself
        else:
            tgt_in[i, :len(t)] = torch.tensor([BOS] + t[:-1])
    return {"src": src, "src_len": torch.tensor([len(s) for s in srcs]), "tgt_in": tgt_in, "tgt": tgt}


class Sorter(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.src_emb = nn.Embedding(SRC_V, E, padding_idx=PAD)
        self.tgt_emb = nn.Embedding(TGT_V, E, padding_idx=PAD)
        self.encoder = nn.GRU(E, H, batch_first=True)
        self.decoder = nn.GRU(E, H, batch_first=True)
        if bug == "encoder_hh_gain10":
            nn.init.orthogonal_(self.encoder.weight_hh_l0, gain=10.0)  # BUG encoder_hh_gain10: recurrent gain 10
        self.combine = nn.Linear(2 * H, H)
        self.out = nn.Linear(H, TGT_V)

    def forward(self, src, src_len, tgt_in):  # -> (B, T, TGT_V) logits
        packed, state = self.encoder(pack_padded_sequence(self.src_emb(src), src_len.cpu(), batch_first=True,
                                                          enforce_sorted=False))
        enc, _ = pad_packed_sequence(packed, batch_first=True, total_length=src.shape[1])
        if self.bug == "state_from_padded_end":
            state = enc[:, -1][None].contiguous()  # BUG state_from_padded_end: the last column, zeros when padded
        dec, _ = self.decoder(self.tgt_emb(tgt_in), state)                               # (B, T, H)
        scores = dec @ enc.transpose(1, 2)                                               # (B, T, S)
        padding = torch.arange(src.shape[1], device=src.device)[None] >= src_len[:, None]
        if self.bug == "attention_mask_inverted":
            scores = scores.masked_fill(~padding[:, None, :], float("-inf"))  # BUG attention_mask_inverted
        else:
            scores = scores.masked_fill(padding[:, None, :], float("-inf"))
        weights = scores.softmax(-1)
        return self.out(torch.tanh(self.combine(torch.cat([dec, weights @ enc], -1))))


class SorterTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "sorter")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        pairs = self.train[:n]
        model = Sorter(self.bug)
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
            if self.bug == "nll_on_probs":
                return F.nll_loss(run(model, b).softmax(-1).flatten(0, 1), b["tgt"].flatten(), ignore_index=PAD)  # BUG
            return F.cross_entropy(run(model, b).flatten(0, 1), b["tgt"].flatten(), ignore_index=PAD)

        return Problem(model=model, train_size=n, get_batch=get_batch, loss=loss,
                       evaluate=evaluate, chance_loss=math.log(TGT_V), forward=run, targets=lambda b: b["tgt"])
