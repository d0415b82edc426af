"""Held-out-57 family 3: a GRU encoder-decoder (bidirectional encoder, no attention) writing a number given in English
words as its digits ("four thousand two hundred and seven" -> 4207), under RMSprop, over dict batches.

Numbers 1..9999 in British English words ("and" after the hundreds); a random permutation (torch seed 0) gives 3000
training and 600 validation numbers. Source ids: PAD 0, then the 31 words (one .. nineteen, twenty .. ninety, hundred,
thousand, and); target ids: PAD 0, digits 0..9 as 1..10, BOS 11, EOS 12. Dict batches {"words" (B, S), "digits_in"
(B, T), "digits_out" (B, T)}, right-padded; teacher forcing (seq = BOS + digits + EOS; digits_in = seq[:-1], digits_out
= seq[1:]). Model: Embedding(32, 64) and Embedding(13, 64) (padding rows at 0); a bidirectional GRU (96 each way) over
the packed words; the decoder's first state tanh(Linear(192, 128)) of the two final states; a GRU decoder (128);
Linear(128, 13). Loss: cross-entropy over non-PAD targets; RMSprop at 0.003. Metrics: teacher-forced token loss and,
from greedy decoding (as many steps as the target has tokens, EOS included), token `acc` and `exact` (every digit and
the EOS right) on the stage's first 500 numbers and on validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "zero_digit_is_pad", "targets_time_major", "gru_weights_std_1",
        "last_step_of_padded_output")
ONES = ("one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen "
        "eighteen nineteen").split()
TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
WORDS = ONES + TENS + ["hundred", "thousand", "and"]
SRC = {w: i + 1 for i, w in enumerate(WORDS)}
PAD, BOS, EOS, V_SRC, V_TGT, E, H, D = 0, 11, 12, len(WORDS) + 1, 13, 64, 96, 128
N_TRAIN, N_VAL = 3000, 600


def below_100(n: int) -> list[str]:
    if n < 20:
        return [ONES[n - 1]] if n else []
    return [TENS[n // 10 - 2]] + ([ONES[n % 10 - 1]] if n % 10 else [])


def in_words(n: int) -> list[str]:
    out = []
    if n >= 1000:
        out += below_100(n // 1000) + ["thousand"]
    if n % 1000 >= 100:
        out += [ONES[n % 1000 // 100 - 1], "hundred"]
    if n % 100:
        out += (["and"] if out else []) + below_100(n % 100)
    return out


def make_batch(numbers: list[int], bug: str = "none") -> dict:
    digit = {str(d): d + 1 for d in range(10)}
    if bug == "zero_digit_is_pad":
        digit = {str(d): d for d in range(10)}  # BUG zero_digit_is_pad: digits encoded as their own value, so "0" gets id 0, the PAD id the loss ignores
    srcs = [[SRC[w] for w in in_words(n)] for n in numbers]
    tgts = [[BOS] + [digit[c] for c in str(n)] + [EOS] for n in numbers]
    b, width, tlen = len(numbers), max(map(len, srcs)), max(map(len, tgts)) - 1
    words, d_in, d_out = torch.full((b, width), PAD), torch.full((b, tlen), PAD), torch.full((b, tlen), PAD)
    for i, (s, t) in enumerate(zip(srcs, tgts)):
        words[i, :len(s)] = torch.tensor(s)
        d_in[i, :len(t) - 1], d_out[i, :len(t) - 1] = torch.tensor(t[:-1]), torch.tensor(t[1:])
    return {"words": words, "digits_in": d_in, "digits_out": d_out, "length": torch.tensor([len(t) - 1 for t in tgts])}


class NumberWriter(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.src_emb, self.tgt_emb = nn.Embedding(V_SRC, E, padding_idx=PAD), nn.Embedding(V_TGT, E, padding_idx=PAD)
        self.enc = nn.GRU(E, H, batch_first=True, bidirectional=True)
        self.bridge = nn.Linear(2 * H, D)
        self.dec = nn.GRU(E, D, batch_first=True)
        self.out = nn.Linear(D, V_TGT)
        if bug == "gru_weights_std_1":
            [nn.init.normal_(p, 0.0, 1.0) for name, p in self.named_parameters() if "weight" in name and name.startswith(("enc.", "dec."))]  # BUG gru_weights_std_1: the GRUs' weights drawn from normal_(p, 0, 1), a std meant for embeddings

    def encode(self, words):  # -> (1, B, D) the decoder's first state
        lengths = (words != PAD).sum(1).clamp(min=1).cpu()
        out, h_n = self.enc(pack_padded_sequence(self.src_emb(words), lengths, batch_first=True, enforce_sorted=False))
        if self.bug == "last_step_of_padded_output":
            last = pad_packed_sequence(out, batch_first=True, total_length=words.shape[1])[0][:, -1]  # BUG last_step_of_padded_output: the summary read at the last position of the padded outputs (zeros for every shorter row) instead of h_n
        else:
            last = torch.cat([h_n[0], h_n[1]], -1)
        return torch.tanh(self.bridge(last))[None]

    def forward(self, words, digits_in):  # -> (B, T, V_TGT) scores
        q, _ = self.dec(self.tgt_emb(digits_in), self.encode(words))
        return self.out(q)

    def greedy(self, words, steps: int):
        state = self.encode(words)
        token, out = torch.full((words.shape[0], 1), BOS, device=words.device), []
        for _ in range(steps):
            q, state = self.dec(self.tgt_emb(token), state)
            token = self.out(q).argmax(-1)
            out.append(token)
        return torch.cat(out, 1)


def token_loss(scores, digits_out, bug: str = "none"):
    if bug == "targets_time_major":
        return F.cross_entropy(scores.reshape(-1, V_TGT), digits_out.t().reshape(-1), ignore_index=PAD)  # BUG targets_time_major: the targets flattened time-major (.t(), from a seq-first version) against batch-first scores
    return F.cross_entropy(scores.reshape(-1, V_TGT), digits_out.reshape(-1), ignore_index=PAD)


class NumeralsTask:
    metrics = ("train/loss", "train/acc", "train/exact", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "numerals")
        order = (torch.randperm(9999, generator=torch.Generator().manual_seed(0)) + 1).tolist()
        self.train, self.val = order[:N_TRAIN], order[N_TRAIN:N_TRAIN + N_VAL]

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        numbers = self.train[:n]
        model = NumberWriter(self.bug)
        bug = self.bug
        train_eval, val_eval = make_batch(numbers[:500], bug), make_batch(self.val, bug)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, batch in (("train", train_eval), ("val", val_eval)):
                    b = on_device_of(model, batch)
                    tgt = b["digits_out"]
                    pred = model.greedy(b["words"], tgt.shape[1])
                    real = torch.arange(tgt.shape[1], device=tgt.device)[None] < b["length"][:, None]
                    right = (pred == tgt) | ~real
                    out[f"{split}/loss"] = token_loss(model(b["words"], b["digits_in"]), tgt).item()
                    out[f"{split}/acc"] = ((pred == tgt) & real).sum().item() / real.sum().item()
                    out[f"{split}/exact"] = right.all(1).float().mean().item()
            return out

        def get_batch(idx):
            b = make_batch([numbers[i] for i in idx.tolist()], bug)
            del b["length"]
            return b

        return Problem(model=model, train_size=n, get_batch=get_batch,
                       loss=lambda model, b: token_loss(model(b["words"], b["digits_in"]), b["digits_out"], bug),
                       evaluate=evaluate, chance_loss=math.log(V_TGT),
                       forward=lambda model, b: model(b["words"], b["digits_in"]), targets=lambda b: b["digits_out"])
