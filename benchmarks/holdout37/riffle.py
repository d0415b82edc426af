"""Held-out-37 family 4: an encoder-decoder Transformer (torch's nn.TransformerEncoder / nn.TransformerDecoder) that
riffles a sequence: its two halves interleaved (`a b c d e f` -> `a d b e c f`), with source and target padding masks
and a causal mask.

A sequence: an even length 4..12 of letters drawn from 10 (repeats allowed); the target: the riffle, then EOS. Ids PAD
0, BOS 1, EOS 2, letters 3..12 (one vocabulary for both sides). Torch seed 0 draws 3000 training and 500 validation
sequences. Dict batches {src (B, S), tgt_in (B, T), tgt (B, T)}, right-padded, in the order asked for; teacher forcing.
Model: d 64, 4 heads, feed-forward 128, dropout 0, pre-norm (norm_first) layers, 2 encoder and 2 decoder layers
(batch_first; the encoder without the nested-tensor fast path); separate token embeddings x sqrt(d) for source and
target (padding_idx 0) plus learnt position embeddings (16 positions each); masks: src_key_padding_mask (PAD) for the
encoder and as memory_key_padding_mask for the decoder's cross-attention, tgt_key_padding_mask, and the causal
tgt_mask (a boolean upper triangle, True = not allowed); Linear(64, 13). Cross-entropy with PAD ignored; Adam at
0.001. Metrics: token loss and accuracy over non-PAD targets (train: the stage's first 400 sequences) and val/exact.
Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "causal_mask_transposed", "memory_pad_unmasked", "log_softmax_time", "val_second_half_first")
PAD, BOS, EOS, LET = 0, 1, 2, 3
V, D, HEADS, FF, MAXLEN = LET + 10, 64, 4, 128, 16
N_TRAIN, N_VAL = 3000, 500


def riffle(s: list[int], second_first: bool = False) -> list[int]:
    a, b = s[:len(s) // 2], s[len(s) // 2:]
    if second_first:
        a, b = b, a
    return [t for pair in zip(a, b) for t in pair]


def draw(n: int, g: torch.Generator, second_first: bool = False) -> list[tuple[list[int], list[int]]]:
    pairs = []
    for _ in range(n):
        s = (LET + torch.randint(0, 10, (2 * int(torch.randint(2, 7, (1,), generator=g)),), generator=g)).tolist()
        pairs.append((s, riffle(s, second_first) + [EOS]))
    return pairs


def make_batch(pairs: list) -> dict:
    s_w, t_w = max(len(s) for s, _ in pairs), max(len(t) for _, t in pairs)
    src, tgt_in, tgt = (torch.full((len(pairs), w), PAD) for w in (s_w, t_w, t_w))
    for i, (s, t) in enumerate(pairs):
        src[i, :len(s)] = torch.tensor(s)
        tgt[i, :len(t)] = torch.tensor(t)
        tgt_in[i, :len(t)] = torch.tensor([BOS] + t[:-1])
    return {"src": src, "tgt_in": tgt_in, "tgt": tgt}


class Riffler(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.src_tok, self.tgt_tok = nn.Embedding(V, D, padding_idx=PAD), nn.Embedding(V, D, padding_idx=PAD)
        self.src_pos, self.tgt_pos = nn.Embedding(MAXLEN, D), nn.Embedding(MAXLEN, D)
        enc_layer = nn.TransformerEncoderLayer(D, HEADS, FF, dropout=0.0, batch_first=True, norm_first=True)
        dec_layer = nn.TransformerDecoderLayer(D, HEADS, FF, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(enc_layer, 2, norm=nn.LayerNorm(D), enable_nested_tensor=False)
        self.decoder = nn.TransformerDecoder(dec_layer, 2, norm=nn.LayerNorm(D))
        self.out = nn.Linear(D, V)

    def forward(self, src, tgt_in):  # -> (B, T, V) logits
        s, t = src.shape[1], tgt_in.shape[1]
        x = self.src_tok(src) * math.sqrt(D) + self.src_pos(torch.arange(s, device=src.device))
        y = self.tgt_tok(tgt_in) * math.sqrt(D) + self.tgt_pos(torch.arange(t, device=src.device))
        src_pad, tgt_pad = src == PAD, tgt_in == PAD
        if self.bug == "causal_mask_transposed":
            causal = torch.tril(torch.ones(t, t, dtype=torch.bool, device=src.device), diagonal=-1)  # BUG causal_mask_transposed
        else:
            causal = torch.triu(torch.ones(t, t, dtype=torch.bool, device=src.device), diagonal=1)
        memory = self.encoder(x, src_key_padding_mask=src_pad)
        if self.bug == "memory_pad_unmasked":
            memory_pad = None  # BUG memory_pad_unmasked: the cross-attention reads the source's PAD positions
        else:
            memory_pad = src_pad
        h = self.decoder(y, memory, tgt_mask=causal, tgt_key_padding_mask=tgt_pad, memory_key_padding_mask=memory_pad)
        return self.out(h)


class RiffleTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "riffle")
        g = torch.Generator().manual_seed(0)
        self.train = draw(N_TRAIN, g)
        self.val = draw(N_VAL, g, second_first=self.bug == "val_second_half_first")  # BUG val_second_half_first

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        pairs = self.train[:n]
        model = Riffler(self.bug)
        train_eval, val_eval = make_batch(pairs[:400]), make_batch(self.val)

        def run(model, b):
            return model(b["src"], b["tgt_in"])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    b = on_device_of(model, b)
                    out.update(sequence_metrics(split, run(model, b), b["tgt"], PAD))
            return out

        def loss(model, b):
            logits = run(model, b)
            if self.bug == "log_softmax_time":
                logp = F.log_softmax(logits, dim=1)  # BUG log_softmax_time: normalised over the positions
            else:
                logp = F.log_softmax(logits, dim=-1)
            return F.nll_loss(logp.flatten(0, 1), b["tgt"].flatten(), ignore_index=PAD)

        return Problem(model=model, train_size=n, get_batch=lambda idx: make_batch([pairs[i] for i in idx.tolist()]),
                       loss=loss, evaluate=evaluate, chance_loss=math.log(V), forward=run, targets=lambda b: b["tgt"])
