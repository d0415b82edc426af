"""Held-out-44 family 3: an LSTM encoder-decoder with additive (Bahdanau) attention that unzips a word: its letters
at even places, then those at odd places (`abcdef` -> `acebdf`), over right-padded namedtuple batches with lengths.

A source: 2..8 letters of ten (uniform); the target: the unzipped word, then EOS. Ids (one vocabulary): PAD 0, BOS 1,
EOS 2, the letters 3..12. Torch seed 0 draws 3000 training and 500 validation words. Namedtuple batches Pair(src
(B, S), src_len (B,), tgt_in (B, T), tgt (B, T)), right-padded, in the order asked for; teacher forcing (tgt_in is BOS
then the target but its last token). Model: embeddings of 32 (shared, padding_idx 0); a bidirectional LSTM encoder
(64 each way) over `pack_padded_sequence(enforce_sorted=False)`, its outputs unpacked (B, S, 128); the decoder LSTM
(128) starts from tanh(Linear([h_fwd; h_bwd])) and tanh(Linear([c_fwd; c_bwd])); attention v · tanh(W s_t + U e_j)
with PAD keys at -inf before the softmax over the source; Linear(256, 13) on [state, context]. Cross-entropy with PAD
ignored; Adam at 0.003. Metrics: token loss and accuracy over non-PAD targets (train: the stage's first 400 words)
and val/exact. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from collections import namedtuple
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "bos_forgotten", "targets_shifted_twice", "lstm_uniform_unit", "mask_after_softmax",
        "last_step_not_final_state")
Pair = namedtuple("Pair", "src src_len tgt_in tgt")
PAD, BOS, EOS, LETTERS, V = 0, 1, 2, 10, 13
MIN_LEN, MAX_LEN, E, H = 2, 8, 32, 64
N_TRAIN, N_VAL = 3000, 500


def draw(n: int, g: torch.Generator) -> list[tuple[list[int], list[int]]]:
    pairs = []
    for _ in range(n):
        w = (torch.randint(0, LETTERS, (int(torch.randint(MIN_LEN, MAX_LEN + 1, (1,), generator=g)),),
                           generator=g) + 3).tolist()
        pairs.append((w, w[0::2] + w[1::2] + [EOS]))
    return pairs


def make_batch(pairs: list, bug: str = "none") -> Pair:
    s_w, t_w = max(len(s) for s, _ in pairs), max(len(t) for _, t in pairs)
    src, tgt_in, tgt = (torch.full((len(pairs), w), PAD) for w in (s_w, t_w, t_w))
    for i, (s, t) in enumerate(pairs):
        src[i, :len(s)], tgt[i, :len(t)] = torch.tensor(s), torch.tensor(t)
        if bug == "bos_forgotten":
            tgt_in[i, :len(t) - 1] = torch.tensor(t[:-1])  # BUG bos_forgotten: no BOS in front, tgt_in = tgt
        else:
            tgt_in[i, :len(t)] = torch.tensor([BOS] + t[:-1])
    return Pair(src, torch.tensor([len(s) for s, _ in pairs]), tgt_in, tgt)


class UnzipWord(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.emb = nn.Embedding(V, E, padding_idx=PAD)
        self.encoder = nn.LSTM(E, H, batch_first=True, bidirectional=True)
        self.decoder = nn.LSTM(E, 2 * H, batch_first=True)
        self.bridge_h, self.bridge_c = nn.Linear(2 * H, 2 * H), nn.Linear(2 * H, 2 * H)
        self.wq, self.wk, self.v = nn.Linear(2 * H, 64), nn.Linear(2 * H, 64, bias=False), nn.Linear(64, 1, bias=False)
        self.out = nn.Linear(4 * H, V)
        if bug == "lstm_uniform_unit":
            [nn.init.uniform_(p, -1.0, 1.0) for rnn in (self.encoder, self.decoder) for p in rnn.parameters()]  # BUG lstm_uniform_unit: PyTorch's bound is 1/sqrt(hidden), not 1

    def forward(self, src, src_len, tgt_in):  # -> (B, T, V) logits
        packed = pack_padded_sequence(self.emb(src), src_len.cpu(), batch_first=True, enforce_sorted=False)
        enc, (h, c) = self.encoder(packed)
        enc, _ = pad_packed_sequence(enc, batch_first=True, total_length=src.shape[1])  # (B, S, 2H)
        if self.bug == "last_step_not_final_state":
            h = c = enc[:, -1]  # BUG last_step_not_final_state: the padded output's last column, PAD for shorter words
        else:
            h, c = torch.cat([h[0], h[1]], -1), torch.cat([c[0], c[1]], -1)
        state = (torch.tanh(self.bridge_h(h))[None], torch.tanh(self.bridge_c(c))[None])
        dec, _ = self.decoder(self.emb(tgt_in), state)  # (B, T, 2H)
        scores = self.v(torch.tanh(self.wq(dec)[:, :, None] + self.wk(enc)[:, None])).squeeze(-1)  # (B, T, S)
        pad = (src == PAD)[:, None, :]
        if self.bug == "mask_after_softmax":
            weights = scores.softmax(-1).masked_fill(pad, 0.0)  # BUG mask_after_softmax: PAD keys still in the sum
        else:
            weights = scores.masked_fill(pad, float("-inf")).softmax(-1)
        return self.out(torch.cat([dec, weights @ enc], -1))


class UnzipWordTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "unzipword")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        pairs = self.train[:n]
        model = UnzipWord(self.bug)
        bug = self.bug
        train_eval, val_eval = make_batch(pairs[:400], bug), make_batch(self.val, bug)

        def run(model, b):
            return model(b.src, b.src_len, b.tgt_in)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    b = Pair(*(on_device_of(model, t) for t in b))
                    out.update(sequence_metrics(split, run(model, b), b.tgt, PAD))
            return out

        def loss(model, b):
            logits = run(model, b)
            if bug == "targets_shifted_twice":
                return F.cross_entropy(logits[:, :-1].flatten(0, 1), b.tgt[:, 1:].flatten(), ignore_index=PAD)  # BUG targets_shifted_twice: an LM's shift on targets already aligned with tgt_in
            return F.cross_entropy(logits.flatten(0, 1), b.tgt.flatten(), ignore_index=PAD)

        return Problem(model=model, train_size=n,
                       get_batch=lambda idx: make_batch([pairs[i] for i in idx.tolist()], bug),
                       loss=loss, evaluate=evaluate, chance_loss=math.log(V), forward=run, targets=lambda b: b.tgt)
