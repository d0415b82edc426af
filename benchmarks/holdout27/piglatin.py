"""Held-out-27 family 3: a GRU encoder-decoder with masked dot attention translating made-up words into Pig Latin.

A word is 3..7 letters of 21 (vowels a e i o u; consonants b c d f g h k l m n p r s t w y), each a vowel with
probability 0.4, at least one vowel. Pig Latin: a word starting with a vowel gets "way" appended (apo -> apoway); else
its leading consonants move to the end and "ay" follows (strap -> apstray). Source ids: PAD 0, letters 1..21; target
ids: PAD 0, BOS 1, EOS 2, letters 3..23. Torch seed 0: 3000 training and 500 validation words. Dict batches
{src (B, S), src_len (B,), tgt_in (B, T), tgt (B, T)}, right-padded; the decoder reads BOS then the target but the last
(teacher forcing). Model: embeddings of 32; a GRU encoder (128, batch-first) over the padded source, its output at
each word's last letter (gathered by length) starting the GRU decoder (128); dot attention of each decoder output over
the encoder outputs, the padding keys (position >= length) masked with -inf; a linear layer on [decoder output;
context] to the target ids. Cross-entropy, PAD ignored; Adam at 0.003. Metrics: token loss and accuracy over non-PAD
targets (train: the stage's first 400), val/exact (whole words, teacher forced). Each bug is one line, marked
`# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "encoder_not_batch_first", "nll_on_raw_logits", "head_built_in_forward", "pad_mask_off_by_one")
VOWELS, CONSONANTS = "aeiou", "bcdfghklmnprstwy"
LETTERS = VOWELS + CONSONANTS
PAD, BOS, EOS = 0, 1, 2
SRC_V, TGT_V = 1 + len(LETTERS), 3 + len(LETTERS)
E, H = 32, 128
N_TRAIN, N_VAL = 3000, 500


def pig_latin(word: str) -> str:
    if word[0] in VOWELS:
        return word + "way"
    k = next(i for i, c in enumerate(word) if c in VOWELS)
    return word[k:] + word[:k] + "ay"


def draw(n: int, g: torch.Generator) -> list[tuple[list[int], list[int]]]:
    out = []
    while len(out) < n:
        length = int(torch.randint(3, 8, (1,), generator=g))
        vowel = torch.rand(length, generator=g) < 0.4
        if not vowel.any():
            continue
        v = torch.randint(0, len(VOWELS), (length,), generator=g)
        c = torch.randint(0, len(CONSONANTS), (length,), generator=g)
        word = "".join(VOWELS[v[i]] if vowel[i] else CONSONANTS[c[i]] for i in range(length))
        out.append(([1 + LETTERS.index(ch) for ch in word], [3 + LETTERS.index(ch) for ch in pig_latin(word)] + [EOS]))
    return out


def make_batch(srcs: list, tgts: list) -> dict:
    s_w, t_w = max(len(s) for s in srcs), max(len(t) for t in tgts)
    src, tgt_in, tgt = (torch.full((len(srcs), w), PAD) for w in (s_w, t_w, t_w))
    for i, (s, t) in enumerate(zip(srcs, tgts)):
        src[i, :len(s)] = torch.tensor(s)
        tgt[i, :len(t)] = torch.tensor(t)
        tgt_in[i, :len(t)] = torch.tensor([BOS] + t[:-1])
    return {"src": src, "src_len": torch.tensor([len(s) for s in srcs]), "tgt_in": tgt_in, "tgt": tgt}


class PigLatin(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.src_emb = nn.Embedding(SRC_V, E, padding_idx=PAD)
        self.tgt_emb = nn.Embedding(TGT_V, E, padding_idx=PAD)
        if bug == "encoder_not_batch_first":
            self.encoder = nn.GRU(E, H)  # BUG encoder_not_batch_first: batch_first=True left out
        else:
            self.encoder = nn.GRU(E, H, batch_first=True)
        self.decoder = nn.GRU(E, H, batch_first=True)
        self.out = nn.Linear(2 * H, TGT_V)

    def forward(self, src, src_len, tgt_in):  # -> (B, T, TGT_V) logits
        enc, _ = self.encoder(self.src_emb(src))                                          # (B, S, H)
        last = enc[torch.arange(len(src), device=src.device), src_len - 1]                # (B, H)
        dec, _ = self.decoder(self.tgt_emb(tgt_in), last[None].contiguous())              # (B, T, H)
        scores = dec @ enc.transpose(1, 2)                                                 # (B, T, S)
        positions = torch.arange(src.shape[1], device=src.device)[None]
        if self.bug == "pad_mask_off_by_one":
            padding = positions > src_len[:, None]  # BUG pad_mask_off_by_one: > for >= (the first PAD is read)
        else:
            padding = positions >= src_len[:, None]
        context = scores.masked_fill(padding[:, None, :], float("-inf")).softmax(-1) @ enc
        if self.bug == "head_built_in_forward":
            self.out = nn.Linear(2 * H, TGT_V).to(dec.device)  # BUG head_built_in_forward: a new head each call
        return self.out(torch.cat([dec, context], -1))


class PigLatinTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "piglatin")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        pairs = self.train[:n]
        model = PigLatin(self.bug)
        train_eval, val_eval = make_batch(*zip(*pairs[:400])), make_batch(*zip(*self.val))

        def get_batch(idx):
            chosen = [pairs[i] for i in idx.tolist()]
            return make_batch([s for s, _ in chosen], [t for _, t in chosen])

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
            logits = run(model, b).flatten(0, 1)
            if self.bug == "nll_on_raw_logits":
                return F.nll_loss(logits, b["tgt"].flatten(), ignore_index=PAD)  # BUG nll_on_raw_logits: no log_softmax
            return F.cross_entropy(logits, b["tgt"].flatten(), ignore_index=PAD)

        return Problem(model=model, train_size=n, get_batch=get_batch, loss=loss, evaluate=evaluate,
                       chance_loss=math.log(TGT_V), forward=run, targets=lambda b: b["tgt"])
