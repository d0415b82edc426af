"""Held-out-29 family 3: a GRU encoder-decoder with masked dot attention writing a word backwards, each letter moved
one place on in the alphabet (`abcd` -> `edcb`).

A source is 3..8 letters of 10 (a..j); the target is the source reversed, each letter replaced by the next one
(j -> a), then EOS. Source ids: PAD 0, letters 1..10; target ids: PAD 0, BOS 1, EOS 2, letters 3..12. Torch seed 0:
3000 training and 500 validation pairs. Dict batches {src (B, S), src_len (B,), tgt_in (B, T), tgt (B, T)},
right-padded; the decoder reads BOS then the target but its last token (teacher forcing). Model: embeddings of 32; a
GRU encoder (128) run over the packed source (pack_padded_sequence), its final state starting a GRU decoder (128);
dot attention of each decoder output over the encoder outputs, padding keys masked with -inf and the softmax over the
keys; Linear(256, 128) - tanh on [decoder output; context], then a linear layer to the target ids. Cross-entropy, PAD
ignored; Adam at 0.003. Metrics: token loss and accuracy over non-PAD targets (train: the stage's first 400 pairs)
and val/exact. Each bug is one line, marked `# BUG <name>`.
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

BUGS = ("none", "tgt_in_is_tgt", "encoder_unpacked", "decoder_recurrent_std2", "combine_built_in_forward",
        "attention_softmax_over_queries")
LETTERS = 10
PAD, BOS, EOS = 0, 1, 2
SRC_V, TGT_V = 1 + LETTERS, 3 + LETTERS
E, H = 32, 128
N_TRAIN, N_VAL = 3000, 500


def draw(n: int, g: torch.Generator) -> list[tuple[list[int], list[int]]]:
    out = []
    for _ in range(n):
        length = int(torch.randint(3, 9, (1,), generator=g))
        letters = torch.randint(0, LETTERS, (length,), generator=g).tolist()
        out.append(([1 + c for c in letters], [3 + (c + 1) % LETTERS for c in reversed(letters)] + [EOS]))
    return out


def make_batch(srcs: list, tgts: list, bug: str) -> dict:
    s_w, t_w = max(len(s) for s in srcs), max(len(t) for t in tgts)
    src, tgt_in, tgt = (torch.full((len(srcs), w), PAD) for w in (s_w, t_w, t_w))
    for i, (s, t) in enumerate(zip(srcs, tgts)):
        src[i, :len(s)] = torch.tensor(s)
        tgt[i, :len(t)] = torch.tensor(t)
        if bug == "tgt_in_is_tgt":
            tgt_in[i, :len(t)] = torch.tensor(t)  # BUG tgt_in_is_tgt: the decoder reads the targets, not BOS + shifted
        else:
            tgt_in[i, :len(t)] = torch.tensor([BOS] + t[:-1])
    return {"src": src, "src_len": torch.tensor([len(s) for s in srcs]), "tgt_in": tgt_in, "tgt": tgt}


class RevShift(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.src_emb = nn.Embedding(SRC_V, E, padding_idx=PAD)
        self.tgt_emb = nn.Embedding(TGT_V, E, padding_idx=PAD)
        self.encoder = nn.GRU(E, H, batch_first=True)
        self.decoder = nn.GRU(E, H, batch_first=True)
        if bug == "decoder_recurrent_std2":
            nn.init.normal_(self.decoder.weight_hh_l0, std=2.0)  # BUG decoder_recurrent_std2: recurrent weights std 2
        self.combine = nn.Linear(2 * H, H)
        self.out = nn.Linear(H, TGT_V)

    def forward(self, src, src_len, tgt_in):  # -> (B, T, TGT_V) logits
        emb = self.src_emb(src)
        if self.bug == "encoder_unpacked":
            enc, last = self.encoder(emb)  # BUG encoder_unpacked: the padded source run as is, final state after padding
        else:
            packed, last = self.encoder(pack_padded_sequence(emb, src_len.cpu(), batch_first=True,
                                                             enforce_sorted=False))
            enc, _ = pad_packed_sequence(packed, batch_first=True, total_length=src.shape[1])
        dec, _ = self.decoder(self.tgt_emb(tgt_in), last)                               # (B, T, H)
        scores = dec @ enc.transpose(1, 2)                                               # (B, T, S)
        padding = torch.arange(src.shape[1], device=src.device)[None] >= src_len[:, None]
        scores = scores.masked_fill(padding[:, None, :], float("-inf"))
        if self.bug == "attention_softmax_over_queries":
            weights = scores.softmax(1)  # BUG attention_softmax_over_queries: normalised over the decoder steps
        else:
            weights = scores.softmax(-1)
        if self.bug == "combine_built_in_forward":
            self.combine = nn.Linear(2 * H, H).to(src.device)  # BUG combine_built_in_forward: rebuilt at every call
        return self.out(torch.tanh(self.combine(torch.cat([dec, weights @ enc], -1))))


class RevShiftTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "revshift")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        pairs = self.train[:n]
        model = RevShift(self.bug)
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

        return Problem(model=model, train_size=n, get_batch=get_batch,
                       loss=lambda model, b: F.cross_entropy(run(model, b).flatten(0, 1), b["tgt"].flatten(),
                                                             ignore_index=PAD),
                       evaluate=evaluate, chance_loss=math.log(TGT_V), forward=run, targets=lambda b: b["tgt"])
