"""Held-out-35 family 3: a GRU encoder-decoder with dot attention decoding Morse code into letters
(`.- / -.` -> `AN`).

A word: 2..6 letters of twelve (E T A N I M S O R D U K, codes of one to three symbols); its source is the letters'
codes, dots and dashes, with a letter gap between letters (ids PAD 0, dot 1, dash 2, gap 3; 2..23 tokens). Target:
the letters then EOS (ids PAD 0, BOS 1, EOS 2, letters 3..14). Torch seed 0 draws 3000 training and 500 validation
words. Tuple batches (src (B, S), src_len (B,), tgt_in (B, T), tgt (B, T)), right-padded, the pairs of a batch
sorted by source length, longest first (for pack_padded_sequence with enforce_sorted=True); teacher forcing (the
decoder reads BOS then the target but its last token). Model: embeddings of 32; a GRU encoder (96) over the packed
source; the decoder GRU (96) starts from the encoder's final state; dot attention of the decoder states over the
encoder outputs, PAD keys masked with -inf, softmax over the source positions, dropout 0.1 on the context (training
only); Linear(192, 15) on [decoder state, context]. Cross-entropy, PAD ignored; Adam at 0.003. Metrics: token loss
and accuracy over non-PAD targets (train: the stage's first 400 words) and val/exact. Each bug is one line, marked
`# BUG <name>`.
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

BUGS = ("none", "sources_sorted_alone", "tgt_in_unshifted", "enc_hh_gain25", "attn_pad_fill_zero",
        "ctx_dropout_in_eval")
PAD, DOT, DASH, GAP = 0, 1, 2, 3
BOS, EOS, LETTER = 1, 2, 3
CODES = (".", "-", ".-", "-.", "..", "--", "...", "---", ".-.", "-..", "..-", "-.-")  # E T A N I M S O R D U K
SRC_V, TGT_V = 4, LETTER + len(CODES)
E, H = 32, 96
N_TRAIN, N_VAL = 3000, 500


def draw(n: int, g: torch.Generator) -> list[tuple[list[int], list[int]]]:
    pairs = []
    for _ in range(n):
        letters = torch.randint(0, len(CODES), (int(torch.randint(2, 7, (1,), generator=g)),), generator=g).tolist()
        src = []
        for i, letter in enumerate(letters):
            if i:
                src.append(GAP)
            src += [DOT if c == "." else DASH for c in CODES[letter]]
        pairs.append((src, [LETTER + letter for letter in letters] + [EOS]))
    return pairs


def make_batch(pairs: list, bug: str = "none") -> tuple:
    """(src, src_len, tgt_in, tgt) with the pairs sorted by source length, longest first."""
    srcs, tgts = [s for s, _ in pairs], [t for _, t in pairs]
    if bug == "sources_sorted_alone":
        srcs = sorted(srcs, key=len, reverse=True)  # BUG sources_sorted_alone: the sources sorted, the targets not
    else:
        srcs, tgts = map(list, zip(*sorted(zip(srcs, tgts), key=lambda p: -len(p[0]))))
    s_w, t_w = max(len(s) for s in srcs), max(len(t) for t in tgts)
    src, tgt_in, tgt = (torch.full((len(srcs), w), PAD) for w in (s_w, t_w, t_w))
    for i, (s, t) in enumerate(zip(srcs, tgts)):
        src[i, :len(s)] = torch.tensor(s)
        tgt[i, :len(t)] = torch.tensor(t)
        if bug == "tgt_in_unshifted":
            tgt_in[i, :len(t)] = torch.tensor(t)  # BUG tgt_in_unshifted: the decoder reads the target it predicts
        else:
            tgt_in[i, :len(t)] = torch.tensor([BOS] + t[:-1])
    return src, torch.tensor([len(s) for s in srcs]), tgt_in, tgt


class MorseDecoder(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.src_emb = nn.Embedding(SRC_V, E, padding_idx=PAD)
        self.tgt_emb = nn.Embedding(TGT_V, E, padding_idx=PAD)
        self.encoder = nn.GRU(E, H, batch_first=True)
        self.decoder = nn.GRU(E, H, batch_first=True)
        self.out = nn.Linear(2 * H, TGT_V)
        if bug == "enc_hh_gain25":
            nn.init.orthogonal_(self.encoder.weight_hh_l0, gain=25)  # BUG enc_hh_gain25: gain 25 instead of 1

    def forward(self, src, src_len, tgt_in):  # -> (B, T, TGT_V) logits
        packed, state = self.encoder(pack_padded_sequence(self.src_emb(src), src_len.cpu(), batch_first=True))
        enc, _ = pad_packed_sequence(packed, batch_first=True, total_length=src.shape[1])
        dec, _ = self.decoder(self.tgt_emb(tgt_in), state)
        scores = dec @ enc.transpose(1, 2)  # (B, T, S)
        if self.bug == "attn_pad_fill_zero":
            scores = scores.masked_fill((src == PAD)[:, None, :], 0.0)  # BUG attn_pad_fill_zero: 0, not -inf
        else:
            scores = scores.masked_fill((src == PAD)[:, None, :], float("-inf"))
        ctx = scores.softmax(-1) @ enc
        if self.bug == "ctx_dropout_in_eval":
            ctx = F.dropout(ctx, 0.1)  # BUG ctx_dropout_in_eval: F.dropout's training=True by default
        else:
            ctx = F.dropout(ctx, 0.1, self.training)
        return self.out(torch.cat([dec, ctx], -1))


class MorseTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "morse")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        pairs = self.train[:n]
        model = MorseDecoder(self.bug)
        train_eval, val_eval = make_batch(pairs[:400], self.bug), make_batch(self.val, self.bug)

        def get_batch(idx):
            return make_batch([pairs[i] for i in idx.tolist()], self.bug)

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
            return F.cross_entropy(run(model, b).flatten(0, 1), b[3].flatten(), ignore_index=PAD)

        return Problem(model=model, train_size=n, get_batch=get_batch, loss=loss, evaluate=evaluate,
                       chance_loss=math.log(TGT_V), forward=run, targets=lambda b: b[3])
