"""Held-out-48 family 3: a CTC recogniser, a GRU reading noisy "acoustic" frames and emitting a
symbol sequence, over dataclass batches with frame and label lengths.

An utterance: 3..6 symbols of an alphabet of 8 (no symbol twice in a row); each symbol lasts 2..4 frames and is
followed by 0..2 frames of silence, with 1..2 silent frames at either end. A frame: 12 features, the symbol's fixed
random signature (NumPy seed 3, N(0, 1)) plus noise N(0, 0.3²); silence is noise alone. Ids: blank 0, symbols 1..8.
Torch seed 0 draws 3000 training and 600 validation utterances. Dataclass batches Utterance(frames (B, T, 12)
right-padded with zeros, frame_lens (B,), labels (B, S) right-padded with 0, label_lens (B,)). Model: Linear(12, 32) -
Tanh - GRU(32, 96) (batch_first, forward in time) over the right-padded frames - Linear(96, 9), log-softmax over the 9 ids: (B, T, 9). Loss:
F.ctc_loss (blank 0, mean over the batch of the loss per target symbol, zero_infinity); chance_loss: the CTC loss of uniform outputs; Adam at 0.003. Greedy
decoding (argmax, merge repeats, drop blanks). Metrics: CTC loss, symbol accuracy (position by position of the
decoded sequence against the labels, over the longer of the two) and `exact` on the stage's first 500 utterances
and on validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "frames_sorted_alone", "no_log_softmax", "input_gain_x50", "batch_first_forgotten")
BLANK, SYMBOLS, FEATURES, H, N_TRAIN, N_VAL, NOISE = 0, 8, 12, 48, 3000, 600, 0.6


@dataclass
class Utterance:
    frames: torch.Tensor      # (B, T, 12) float, zero-padded
    frame_lens: torch.Tensor  # (B,)
    labels: torch.Tensor      # (B, S) symbol ids 1..8, padded with 0
    label_lens: torch.Tensor  # (B,)


def draw(n: int, g: torch.Generator):
    sig = torch.tensor(np.random.default_rng(3).normal(0, 1, (SYMBOLS + 1, FEATURES)), dtype=torch.float32)
    out = []
    for _ in range(n):
        k = int(torch.randint(3, 7, (1,), generator=g))
        syms = []
        while len(syms) < k:
            s = int(torch.randint(1, SYMBOLS + 1, (1,), generator=g))
            if not syms or s != syms[-1]:
                syms.append(s)
        ids = [0] * int(torch.randint(1, 3, (1,), generator=g))
        for s in syms:
            ids += [s] * int(torch.randint(2, 5, (1,), generator=g)) + [0] * int(torch.randint(0, 3, (1,), generator=g))
        ids += [0] * int(torch.randint(1, 3, (1,), generator=g))
        ids = torch.tensor(ids)
        frames = torch.where((ids > 0)[:, None], sig[ids], torch.zeros(FEATURES)) + torch.randn(len(ids), FEATURES,
                                                                                                 generator=g) * NOISE
        out.append((frames, syms))
    return out


def collate(items: list) -> Utterance:
    t, s = max(len(f) for f, _ in items), max(len(y) for _, y in items)
    frames, labels = torch.zeros(len(items), t, FEATURES), torch.zeros(len(items), s, dtype=torch.long)
    for i, (f, y) in enumerate(items):
        frames[i, :len(f)] = f
        labels[i, :len(y)] = torch.tensor(y)
    return Utterance(frames, torch.tensor([len(f) for f, _ in items]), labels, torch.tensor([len(y) for _, y in items]))


class Recogniser(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.inp = nn.Linear(FEATURES, 32)
        if bug == "input_gain_x50":
            self.inp.weight.data *= 50  # BUG input_gain_x50: "make the features louder": the input layer's weights scaled 50x
        self.rnn = nn.GRU(32, 2 * H, batch_first=(bug != "batch_first_forgotten"))  # BUG batch_first_forgotten: batch_first left False: the (B, T, F) frames read as (T, B, F), the recurrence runs across the batch
        self.head = nn.Linear(2 * H, SYMBOLS + 1)

    def forward(self, frames, frame_lens):  # (B, T, 12) -> (B, T, 9) log-probabilities
        h = torch.tanh(self.inp(frames))
        h, _ = self.rnn(h)  # forward in time over the right-padded frames: a real frame's output never reads the padding after it
        logits = self.head(h)
        if self.bug == "no_log_softmax":
            return logits  # BUG no_log_softmax: raw scores handed to ctc_loss, which expects log-probabilities
        return logits.log_softmax(-1)


def ctc(logp: torch.Tensor, b: Utterance) -> torch.Tensor:
    return F.ctc_loss(logp.transpose(0, 1), b.labels, b.frame_lens, b.label_lens, blank=BLANK, zero_infinity=True)


def decode(logp: torch.Tensor, lens: torch.Tensor) -> list[list[int]]:
    out = []
    for row, n in zip(logp.argmax(-1).tolist(), lens.tolist()):
        seq, prev = [], BLANK
        for s in row[:n]:
            if s != prev and s != BLANK:
                seq.append(s)
            prev = s
        out.append(seq)
    return out


class SpokenTask:
    metrics = ("train/loss", "train/acc", "train/exact", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "spoken")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)
        if self.bug == "frames_sorted_alone":
            frames = sorted((f for f, _ in self.train), key=len)  # BUG frames_sorted_alone: the frames sorted by length for bucketing, the labels left in their order
            self.train = [(f, y) for f, (_, y) in zip(frames, self.train)]

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        items = self.train[:n]
        model = Recogniser(self.bug)
        train_eval, val_eval = collate(items[:500]), collate(self.val)
        uniform = torch.full((*train_eval.frames.shape[:2], SYMBOLS + 1), -math.log(SYMBOLS + 1))
        chance = ctc(uniform, train_eval).item()  # the CTC loss of uniform outputs (~7.4 per symbol)

        def run(model, b):
            return model(b.frames, b.frame_lens)

        def evaluate(model):
            out = {}
            device = next(model.parameters()).device
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    b = Utterance(*(t.to(device) for t in (b.frames, b.frame_lens, b.labels, b.label_lens)))
                    logp = run(model, b)
                    hyp = decode(logp, b.frame_lens)
                    ref = [row[:k] for row, k in zip(b.labels.tolist(), b.label_lens.tolist())]
                    right = sum(sum(a == c for a, c in zip(h, r)) for h, r in zip(hyp, ref))
                    total = sum(max(len(h), len(r)) for h, r in zip(hyp, ref))
                    out[f"{split}/loss"] = ctc(logp.log_softmax(-1), b).item()
                    out[f"{split}/acc"] = right / total
                    out[f"{split}/exact"] = sum(h == r for h, r in zip(hyp, ref)) / len(ref)
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: collate([items[i] for i in idx.tolist()]),
                       loss=lambda model, b: ctc(run(model, b), b), evaluate=evaluate,
                       chance_loss=chance, forward=run, targets=lambda b: b.labels)
