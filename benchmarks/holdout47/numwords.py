"""Held-out-47 family 3: an LSTM encoder-decoder (no attention) writing a number spelt in English words as digits
("four thousand twelve" -> 4 0 1 2), over dataclass batches.

A number: 0..9999, spelt in words (zero .. nineteen, twenty .. ninety, hundred, thousand; no "and"); the target: its
decimal digits, then EOS. Source ids: PAD 0, the 30 words 1..30; target ids: PAD 0, BOS 1, EOS 2, the digits 3..12.
Torch seed 0 permutes the 10000 numbers: the first 3000 train, the next 600 validate. Dataclass batches
Spelt(src (B, S), src_len (B,), tgt_in (B, T), tgt (B, T)), right-padded; teacher forcing (tgt_in is BOS then the
target but its last token). Model: source and target embeddings of 48; an LSTM encoder (128) over the packed source;
an LSTM decoder (128) started from the encoder's final (h, c); Linear(128, 13). Loss: token cross-entropy over
non-PAD targets (ignore_index PAD); Adam at 0.003. Metrics: token loss and accuracy over non-PAD targets (train: the
stage's first 500 numbers) and val/exact (every token right, teacher-forced). Each bug is one line, marked
`# BUG <name>`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from benchmarks.bugsuite.common import check_bug, evaluating, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "length_minus_one", "scored_on_decoder_input", "uniform_1_everywhere", "state_not_passed")
ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen").split()
TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
WORDS = ONES + TENS + ["hundred", "thousand"]
SRC_ID = {w: i + 1 for i, w in enumerate(WORDS)}
PAD, BOS, EOS, V_SRC, V_TGT = 0, 1, 2, len(WORDS) + 1, 13
E, H, N_TRAIN, N_VAL = 48, 128, 3000, 600


def spell(n: int) -> list[str]:
    if n < 20:
        return [ONES[n]]
    if n < 100:
        return [TENS[n // 10 - 2]] + ([ONES[n % 10]] if n % 10 else [])
    if n < 1000:
        return [ONES[n // 100], "hundred"] + (spell(n % 100) if n % 100 else [])
    return spell(n // 1000) + ["thousand"] + (spell(n % 1000) if n % 1000 else [])


@dataclass
class Spelt:
    src: torch.Tensor
    src_len: torch.Tensor
    tgt_in: torch.Tensor
    tgt: torch.Tensor


def make_batch(numbers: list[int], bug: str = "none") -> Spelt:
    srcs = [[SRC_ID[w] for w in spell(n)] for n in numbers]
    tgts = [[int(ch) + 3 for ch in str(n)] + [EOS] for n in numbers]
    src = torch.full((len(numbers), max(map(len, srcs))), PAD)
    tgt_in, tgt = (torch.full((len(numbers), max(map(len, tgts))), PAD) for _ in range(2))
    for i, (s, t) in enumerate(zip(srcs, tgts)):
        src[i, :len(s)] = torch.tensor(s)
        tgt_in[i, :len(t)], tgt[i, :len(t)] = torch.tensor([BOS] + t[:-1]), torch.tensor(t)
    lengths = (src != PAD).sum(1)
    if bug == "length_minus_one":
        lengths = (lengths - 1).clamp(min=1)  # BUG length_minus_one: lengths counted as if the source ended in an EOS it does not have
    return Spelt(src, lengths, tgt_in, tgt)


class Speller(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.src_emb, self.tgt_emb = nn.Embedding(V_SRC, E, padding_idx=PAD), nn.Embedding(V_TGT, E, padding_idx=PAD)
        self.enc, self.dec = nn.LSTM(E, H, batch_first=True), nn.LSTM(E, H, batch_first=True)
        self.out = nn.Linear(H, V_TGT)
        if bug == "uniform_1_everywhere":
            for p in self.parameters():
                nn.init.uniform_(p, -1.0, 1.0)  # BUG uniform_1_everywhere: uniform(-1, 1) where uniform(-0.08, 0.08) was meant

    def forward(self, b: Spelt):  # -> (B, T, V_TGT)
        packed = pack_padded_sequence(self.src_emb(b.src), b.src_len.cpu(), batch_first=True, enforce_sorted=False)
        _, state = self.enc(packed)
        dec, _ = self.dec(self.tgt_emb(b.tgt_in), state)
        if self.bug == "state_not_passed":
            dec, _ = self.dec(self.tgt_emb(b.tgt_in))  # BUG state_not_passed: the encoder's state never handed to the decoder
        return self.out(dec)


class NumWordsTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "numwords")
        order = torch.randperm(10000, generator=torch.Generator().manual_seed(0)).tolist()
        self.train, self.val = order[:N_TRAIN], order[N_TRAIN:N_TRAIN + N_VAL]

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        numbers = self.train[:n]
        model = Speller(self.bug)
        bug = self.bug
        train_eval, val_eval = make_batch(numbers[:500], bug), make_batch(self.val, bug)

        def loss(model, b):
            logits = model(b)
            if bug == "scored_on_decoder_input":
                return F.cross_entropy(logits.flatten(0, 1), b.tgt_in.flatten(), ignore_index=PAD)  # BUG scored_on_decoder_input: tgt_in where tgt was meant
            return F.cross_entropy(logits.flatten(0, 1), b.tgt.flatten(), ignore_index=PAD)

        def evaluate(model):
            device = next(model.parameters()).device
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    b = Spelt(*(t.to(device) for t in (b.src, b.src_len, b.tgt_in, b.tgt)))
                    out.update(sequence_metrics(split, model(b), b.tgt, PAD))
            return out

        def show(b: Spelt):
            return [" ".join(WORDS[i - 1] for i in s.tolist() if i) + " -> "
                    + "".join(str(i - 3) if i >= 3 else "$" for i in t.tolist() if i) for s, t in zip(b.src, b.tgt)]

        return Problem(model=model, train_size=n, get_batch=lambda idx: make_batch([numbers[i] for i in idx.tolist()], bug),
                       loss=loss, evaluate=evaluate, chance_loss=math.log(11), forward=lambda model, b: model(b),
                       targets=lambda b: b.tgt, show_batch=show)
