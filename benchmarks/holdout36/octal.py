"""Held-out-36 family 3: an LSTM encoder-decoder with dot attention converting a binary number into octal
(`1 0 1 1 1 0 1` -> `1 3 5`).

A number: 4..18 bits, the first one 1 (uniform otherwise); its target: the octal digits (groups of three bits from
the right) then EOS. Source ids PAD 0, bit 0 -> 1, bit 1 -> 2; target ids PAD 0, BOS 1, EOS 2, UNK 3, digits 4..11.
Torch seed 0 draws 3000 training and 500 validation numbers. Tuple batches (src (B, S), src_len (B,), tgt_in (B, T),
tgt (B, T)), right-padded, in the order asked for; teacher forcing (the decoder reads BOS then the target but its last
token). Model: embeddings of 32; a bidirectional LSTM encoder (64 per direction) over the packed source
(enforce_sorted=False); the decoder LSTM (128) starts from tanh(Linear(256, 128)) of the encoder's two final states
(cell state zero); word dropout on the decoder's input (each digit replaced by UNK with probability 0.1, training
only); dot attention of the decoder states over the encoder outputs / sqrt(128), PAD keys masked with -inf, softmax
over the source positions; Linear(256, 12) on [decoder state, context]. Cross-entropy, PAD ignored; Adam at 0.003.
Metrics: token loss and accuracy over non-PAD targets (train: the stage's first 400 numbers) and val/exact. Each bug
is one line, marked `# BUG <name>`.
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

BUGS = ("none", "train_bits_reversed", "pad_not_ignored", "enc_normal_std1", "attn_fill_tiny", "word_dropout_in_eval")
PAD, BOS, EOS, UNK, DIGIT = 0, 1, 2, 3, 4
SRC_V, TGT_V = 3, DIGIT + 8
E, H = 32, 64
N_TRAIN, N_VAL = 3000, 500


def draw(n: int, g: torch.Generator) -> list[tuple[list[int], list[int]]]:
    pairs = []
    for _ in range(n):
        bits = [1] + torch.randint(0, 2, (int(torch.randint(3, 18, (1,), generator=g)),), generator=g).tolist()
        value = int("".join(map(str, bits)), 2)
        pairs.append(([b + 1 for b in bits], [DIGIT + int(d) for d in format(value, "o")] + [EOS]))
    return pairs


def make_batch(pairs: list) -> tuple:
    s_w, t_w = max(len(s) for s, _ in pairs), max(len(t) for _, t in pairs)
    src, tgt_in, tgt = (torch.full((len(pairs), w), PAD) for w in (s_w, t_w, t_w))
    for i, (s, t) in enumerate(pairs):
        src[i, :len(s)] = torch.tensor(s)
        tgt[i, :len(t)] = torch.tensor(t)
        tgt_in[i, :len(t)] = torch.tensor([BOS] + t[:-1])
    return src, torch.tensor([len(s) for s, _ in pairs]), tgt_in, tgt


class OctalConverter(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.src_emb = nn.Embedding(SRC_V, E, padding_idx=PAD)
        self.tgt_emb = nn.Embedding(TGT_V, E, padding_idx=PAD)
        self.encoder = nn.LSTM(E, H, batch_first=True, bidirectional=True)
        self.bridge = nn.Linear(2 * H, 2 * H)
        self.decoder = nn.LSTM(E, 2 * H, batch_first=True)
        self.out = nn.Linear(4 * H, TGT_V)
        if bug == "enc_normal_std1":
            for p in self.encoder.parameters(): nn.init.normal_(p)  # BUG enc_normal_std1: std 1, not ~0.07  # noqa: E701

    def forward(self, src, src_len, tgt_in):  # -> (B, T, TGT_V) logits
        packed, (h_n, _) = self.encoder(pack_padded_sequence(self.src_emb(src), src_len.cpu(), batch_first=True,
                                                             enforce_sorted=False))
        enc, _ = pad_packed_sequence(packed, batch_first=True, total_length=src.shape[1])  # (B, S, 2H)
        h0 = torch.tanh(self.bridge(torch.cat([h_n[0], h_n[1]], -1)))[None]
        if self.bug == "word_dropout_in_eval":
            p = 0.1  # BUG word_dropout_in_eval: the decoder's inputs dropped at evaluation too
        else:
            p = 0.1 if self.training else 0.0
        dropped = (torch.rand(tgt_in.shape, device=tgt_in.device) < p) & (tgt_in >= DIGIT)
        dec, _ = self.decoder(self.tgt_emb(tgt_in.masked_fill(dropped, UNK)), (h0, torch.zeros_like(h0)))
        scores = dec @ enc.transpose(1, 2) / math.sqrt(2 * H)  # (B, T, S)
        if self.bug == "attn_fill_tiny":
            scores = scores.masked_fill((src == PAD)[:, None, :], -1e-9)  # BUG attn_fill_tiny: -1e-9, not -1e9
        else:
            scores = scores.masked_fill((src == PAD)[:, None, :], float("-inf"))
        ctx = scores.softmax(-1) @ enc
        return self.out(torch.cat([dec, ctx], -1))


class OctalTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "octal")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)
        if self.bug == "train_bits_reversed":
            self.train = [(s[::-1], t) for s, t in self.train]  # BUG train_bits_reversed: training bits LSB first

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        pairs = self.train[:n]
        model = OctalConverter(self.bug)
        train_eval, val_eval = make_batch(pairs[:400]), make_batch(self.val)

        def get_batch(idx):
            return make_batch([pairs[i] for i in idx.tolist()])

        def run(model, b):
            return model(b[0], b[1], b[2])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    b = tuple(on_device_of(model, t) for t in b)
                    out.update(sequence_metrics(split, run(model, b), b[3], PAD))
            return out

        def loss(model, b):
            logits = run(model, b).flatten(0, 1)
            if self.bug == "pad_not_ignored":
                return F.cross_entropy(logits, b[3].flatten())  # BUG pad_not_ignored: ignore_index left at -100
            return F.cross_entropy(logits, b[3].flatten(), ignore_index=PAD)

        return Problem(model=model, train_size=n, get_batch=get_batch, loss=loss, evaluate=evaluate,
                       chance_loss=math.log(TGT_V), forward=run, targets=lambda b: b[3])
