"""Held-out-22 family 2: a GRU encoder-decoder with Luong (dot) attention translating number words into digits.

Source: an integer 0..9999 written in English words ("four thousand two hundred seven"; 1..8 words, vocabulary
29 + PAD), target: its digits then EOS (2..5 tokens); the decoder reads BOS then the target but the last (teacher
forcing). Numbers drawn with torch seed 0 (3000 training, 400 validation). Dict batches {src (B, S), src_len (B,),
tgt_in (B, T), tgt (B, T)}, right-padded with PAD = 0. Model (emb 32, hidden 64): a GRU encoder over the source
embeddings (batch_first; right padding leaves the real steps as they are), the decoder GRU started from the
encoder's state at each source's last real step, Luong dot attention of each decoder state over the encoder states
(source padding masked_fill -inf), tanh(W [h; context]) -> linear to the 13 target tokens. Loss: cross-entropy,
PAD ignored. Adam at 0.003. Metrics: token loss and accuracy (train on the first 400), exact strings (val). Each
bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "mask_from_tgt_lengths", "reversed_with_padding", "train_targets_reversed")
PAD, BOS, EOS = 0, 1, 2  # target ids; digits are 3..12
ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen " \
       "seventeen eighteen nineteen".split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
WORDS = ["<pad>"] + ONES + TENS[2:] + ["hundred", "thousand"]
WID = {w: i for i, w in enumerate(WORDS)}
E, H = 32, 64
N_TRAIN, N_VAL = 3000, 400


def words(n: int) -> list[str]:
    if n == 0:
        return ["zero"]
    out = []
    if n >= 1000:
        out += [ONES[n // 1000], "thousand"]
        n %= 1000
    if n >= 100:
        out += [ONES[n // 100], "hundred"]
        n %= 100
    if n >= 20:
        out.append(TENS[n // 10])
        n %= 10
        if n:
            out.append(ONES[n])
    elif n:
        out.append(ONES[n])
    return out


def pair(n: int) -> tuple[list[int], list[int]]:
    return [WID[w] for w in words(n)], [3 + int(c) for c in str(n)] + [EOS]


def make_batch(pairs: list) -> dict:
    s_w, t_w = max(len(s) for s, _ in pairs), max(len(t) for _, t in pairs)
    src, tgt_in, tgt = (torch.full((len(pairs), w), PAD) for w in (s_w, t_w, t_w))
    for i, (s, t) in enumerate(pairs):
        src[i, :len(s)] = torch.tensor(s)
        tgt[i, :len(t)] = torch.tensor(t)
        tgt_in[i, :len(t)] = torch.tensor([BOS] + t[:-1])
    return {"src": src, "src_len": torch.tensor([len(s) for s, _ in pairs]),
            "tgt_len": torch.tensor([len(t) for _, t in pairs]), "tgt_in": tgt_in, "tgt": tgt}


class Transducer(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.src_emb, self.tgt_emb = nn.Embedding(len(WORDS), E), nn.Embedding(13, E)
        self.encoder, self.decoder = nn.GRU(E, H, batch_first=True), nn.GRU(E, H, batch_first=True)
        self.combine = nn.Linear(2 * H, H)
        self.out = nn.Linear(H, 13)

    def forward(self, src, src_len, tgt_in, tgt_len=None):  # -> (B, T, 13) logits
        b, s = src.shape
        if self.bug == "reversed_with_padding":
            src = src.flip(1)  # BUG reversed_with_padding: the source reversed (Sutskever's trick) padding and all
        enc, _ = self.encoder(self.src_emb(src))                                    # (B, S, H)
        last = enc[torch.arange(b), src_len - 1]
        dec, _ = self.decoder(self.tgt_emb(tgt_in), last[None].contiguous())       # (B, T, H)
        scores = dec @ enc.transpose(1, 2)                                          # (B, T, S)
        lengths = tgt_len if self.bug == "mask_from_tgt_lengths" else src_len  # noqa: E501  BUG mask_from_tgt_lengths: the key mask built from the target lengths
        pad = torch.arange(s, device=src.device)[None, :] >= lengths[:, None]
        scores = scores.masked_fill(pad[:, None, :], float("-inf"))
        context = scores.softmax(-1) @ enc
        return self.out(torch.tanh(self.combine(torch.cat([dec, context], -1))))


class TransducerTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "transducer")
        g = torch.Generator().manual_seed(0)
        numbers = torch.randperm(10000, generator=g)
        self.train = [pair(int(n)) for n in numbers[:N_TRAIN]]
        self.val = [pair(int(n)) for n in numbers[N_TRAIN:N_TRAIN + N_VAL]]
        if self.bug == "train_targets_reversed":
            self.train = [(s, t[-2::-1] + t[-1:]) for s, t in self.train]  # noqa: E501  BUG train_targets_reversed: the "reverse the output" trick applied to the training split only

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        pairs = self.train[:n]
        model = Transducer(self.bug)
        train_eval, val_eval = make_batch(pairs[:400]), make_batch(self.val)

        def run(model, b):
            return model(b["src"], b["src_len"], b["tgt_in"], b["tgt_len"])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    out.update(sequence_metrics(split, run(model, b), b["tgt"], PAD))
            return out

        def loss(model, b):
            return F.cross_entropy(run(model, b).flatten(0, 1), b["tgt"].flatten(), ignore_index=PAD)

        return Problem(model=model, train_size=n,
                       get_batch=lambda idx: make_batch([pairs[i] for i in idx.tolist()]),
                       loss=loss, evaluate=evaluate, chance_loss=math.log(11),
                       forward=run, targets=lambda b: b["tgt"])
