"""Held-out-41 family 3: an LSTM encoder-decoder with Luong ("general") attention that writes a word's letters at
even places first, then those at odd places (`abcdefg` -> `acegbdf`), over right-padded tuple batches.

A source: 3..9 letters of ten (uniform); the target: the letters at places 0, 2, 4, ..., then 1, 3, 5, ..., then EOS.
Ids (one vocabulary, letters first as `ord(c) - ord('a')`): the letters 0..9, PAD 10, BOS 11, EOS 12. Torch seed 0
draws 3000 training and 500 validation words. Tuple batches (src (B, S), tgt_in (B, T), tgt (B, T)), right-padded, in
the order asked for; teacher forcing (tgt_in is BOS then the target but its last token). Model: embeddings of 32
(shared by both sides, padding_idx PAD); a one-layer LSTM encoder (128, batch-first, unpacked); the decoder LSTM (128)
starts from h0 = tanh(Linear(mean of the encoder's outputs over the real letters)), c0 = 0; attention scores
s_t · W e_j with PAD keys -inf, softmax over the source; Linear(256, 13) on [state, context]. Cross-entropy with PAD
ignored; Adam at 0.003. Metrics: token loss and accuracy over non-PAD targets (train: the stage's first 400 words) and
val/exact. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "pad_id_assumed_zero", "encoder_not_batch_first", "normal_init_no_std", "double_shift")
LETTERS, PAD, BOS, EOS, V = 10, 10, 11, 12, 13
MIN_LEN, MAX_LEN, E, H = 3, 9, 32, 128
N_TRAIN, N_VAL = 3000, 500


def draw(n: int, g: torch.Generator) -> list[tuple[list[int], list[int]]]:
    pairs = []
    for _ in range(n):
        w = torch.randint(0, LETTERS, (int(torch.randint(MIN_LEN, MAX_LEN + 1, (1,), generator=g)),),
                          generator=g).tolist()
        pairs.append((w, w[0::2] + w[1::2] + [EOS]))
    return pairs


def make_batch(pairs: list) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    s_w, t_w = max(len(s) for s, _ in pairs), max(len(t) for _, t in pairs)
    src, tgt_in, tgt = torch.full((len(pairs), s_w), PAD), torch.full((len(pairs), t_w), PAD), \
        torch.full((len(pairs), t_w), PAD)
    for i, (s, t) in enumerate(pairs):
        src[i, :len(s)], tgt[i, :len(t)], tgt_in[i, :len(t)] = torch.tensor(s), torch.tensor(t), \
            torch.tensor([BOS] + t[:-1])
    return src, tgt_in, tgt


class EvenOdd(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.emb = nn.Embedding(V, E, padding_idx=PAD)
        self.src_pos, self.tgt_pos = nn.Embedding(MAX_LEN, E), nn.Embedding(MAX_LEN + 1, E)
        if bug == "encoder_not_batch_first":
            self.encoder = nn.LSTM(E, H)  # BUG encoder_not_batch_first: batch_first=True forgotten
        else:
            self.encoder = nn.LSTM(E, H, batch_first=True)
        self.decoder = nn.LSTM(E, H, batch_first=True)
        self.bridge, self.attn, self.out = nn.Linear(H, H), nn.Linear(H, H, bias=False), nn.Linear(2 * H, V)
        if bug == "normal_init_no_std":
            [nn.init.normal_(p) for name, p in self.named_parameters() if "weight" in name]  # BUG normal_init_no_std: std=0.02 forgotten

    def forward(self, src, tgt_in):  # -> (B, T, V) logits
        if self.bug == "pad_id_assumed_zero":
            pad = src == 0  # BUG pad_id_assumed_zero: id 0 is the letter a here, PAD is 10
        else:
            pad = src == PAD
        enc, _ = self.encoder(self.emb(src) + self.src_pos(torch.arange(src.shape[1], device=src.device)))  # (B, S, H)
        real = (~pad).float()[..., None]
        h0 = torch.tanh(self.bridge((enc * real).sum(1) / real.sum(1).clamp(min=1)))[None]
        y = self.emb(tgt_in) + self.tgt_pos(torch.arange(tgt_in.shape[1], device=src.device))
        dec, _ = self.decoder(y, (h0, torch.zeros_like(h0)))  # (B, T, H)
        scores = (dec @ self.attn(enc).transpose(1, 2)).masked_fill(pad[:, None, :], float("-inf"))
        context = scores.softmax(-1) @ enc
        return self.out(torch.cat([dec, context], -1))


class EvenOddTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "evenodd")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        pairs = self.train[:n]
        model = EvenOdd(self.bug)
        train_eval, val_eval = make_batch(pairs[:400]), make_batch(self.val)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (src, tgt_in, tgt) in (("train", train_eval), ("val", val_eval)):
                    src, tgt_in, tgt = (on_device_of(model, t) for t in (src, tgt_in, tgt))
                    out.update(sequence_metrics(split, model(src, tgt_in), tgt, PAD))
            return out

        def loss(model, b):
            src, tgt_in, tgt = b
            logits = model(src, tgt_in)
            if self.bug == "double_shift":
                return F.cross_entropy(logits[:, :-1].flatten(0, 1), tgt[:, 1:].flatten(), ignore_index=PAD)  # BUG double_shift
            return F.cross_entropy(logits.flatten(0, 1), tgt.flatten(), ignore_index=PAD)

        return Problem(model=model, train_size=n, get_batch=lambda idx: make_batch([pairs[i] for i in idx.tolist()]),
                       loss=loss, evaluate=evaluate, chance_loss=math.log(V),
                       forward=lambda model, b: model(b[0], b[1]), targets=lambda b: b[2])
