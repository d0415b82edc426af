"""Held-out-51 family 2: a 1-D CNN naming the species of a bird call from its log spectrogram, a log-softmax output
and the negative log-likelihood loss, under SGD with momentum, over namedtuple batches.

A call: one of five pitch contours over a 16-bin, 48-frame spectrogram (classes in this order): rising (6 bins over
the call), falling, flat, a V (down then up) and a trill (two pitches alternating every 2 frames); the call lasts 14..24
frames from a random onset, starts at a random bin (1..8) and is 18..26 dB above a noise floor of 10 dB +- N(0, 3) dB,
spread over neighbouring bins (a Gaussian of 0.7 bins). Torch seed 0 draws 3000 training and 600 validation calls. The
input is the dB spectrogram standardised with the training split's mean and std (one scalar each). Namedtuple batches
Calls(spec (B, 16, 48), species (B,)). Model: Conv1d(16, 32, 5) - ReLU - Conv1d(32, 32, 5) - ReLU - MaxPool1d(2) -
Conv1d(32, 48, 3) - ReLU (padded to keep the length), the max over time, Linear(48, 5), log_softmax. Loss: F.nll_loss
on the log-probabilities; SGD with momentum 0.9 at 0.02. Metrics: loss and accuracy on the stage's first 500 calls and
on validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from collections import namedtuple
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "power_not_db", "nll_indexed_by_rows", "conv_init_tiny", "last_frame_readout")
Calls = namedtuple("Calls", "spec species")
BINS, FRAMES, SPECIES, N_TRAIN, N_VAL = 16, 48, 5, 3000, 600


def draw(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    species = torch.randint(0, SPECIES, (n,), generator=g)
    db = 10 + 3 * torch.randn(n, BINS, FRAMES, generator=g)
    bins = torch.arange(BINS, dtype=torch.float32)
    for i in range(n):
        s = int(species[i])
        length = int(torch.randint(14, 25, (1,), generator=g))
        onset = int(torch.randint(0, FRAMES - length + 1, (1,), generator=g))
        p0 = 1 + 7 * float(torch.rand(1, generator=g))
        level = 18 + 8 * float(torch.rand(1, generator=g))
        for t in range(length):
            u = t / (length - 1)
            pitch = (p0 + 6 * u, p0 + 6 - 6 * u, p0 + 3, p0 + 6 * abs(2 * u - 1),
                     p0 + 3 + (2.5 if (t // 2) % 2 else -2.5))[s]
            db[i, :, onset + t] += level * torch.exp(-(bins - pitch) ** 2 / (2 * 0.7 ** 2))
    return db, species


class CallNet(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.c1, self.c2 = nn.Conv1d(BINS, 32, 5, padding=2), nn.Conv1d(32, 32, 5, padding=2)
        self.c3 = nn.Conv1d(32, 48, 3, padding=1)
        self.head = nn.Linear(48, SPECIES)
        if bug == "conv_init_tiny":
            [nn.init.normal_(c.weight, 0.0, 0.001) for c in (self.c1, self.c2, self.c3)]  # BUG conv_init_tiny: "small random weights", std 0.001

    def forward(self, spec):  # (B, 16, 48) -> (B, 5) log-probabilities
        h = F.relu(self.c2(F.relu(self.c1(spec))))
        h = F.relu(self.c3(F.max_pool1d(h, 2)))
        if self.bug == "last_frame_readout":
            h = h[:, :, -1]  # BUG last_frame_readout: the last time step read out (an RNN habit) where the max over time was meant
        else:
            h = h.amax(-1)
        return F.log_softmax(self.head(h), -1)


class BirdSongsTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "birdsongs")
        g = torch.Generator().manual_seed(0)
        db, species = draw(N_TRAIN + N_VAL, g)
        if bug == "power_not_db":
            x = 10 ** (db / 10)  # BUG power_not_db: the recorder's linear power fed as is (log compression and scaling forgotten)
        else:
            x = (db - db[:N_TRAIN].mean()) / db[:N_TRAIN].std()
        self.x_train, self.y_train = x[:N_TRAIN], species[:N_TRAIN]
        self.x_val, self.y_val = x[N_TRAIN:], species[N_TRAIN:]

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = CallNet(self.bug)
        bug = self.bug

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:500], y[:500]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    logp = model(xs)
                    out[f"{split}/loss"] = F.nll_loss(logp, ys).item()
                    out[f"{split}/acc"] = (logp.argmax(-1) == ys).float().mean().item()
            return out

        def loss(model, b):
            logp = model(b.spec)
            if bug == "nll_indexed_by_rows":
                return -logp[:, b.species].mean()  # BUG nll_indexed_by_rows: a hand-written NLL indexing (B, B) entries where logp[arange(B), species] was meant
            return F.nll_loss(logp, b.species)

        return Problem(model=model, train_size=n, get_batch=lambda idx: Calls(x[idx], y[idx]), loss=loss,
                       evaluate=evaluate,
                       chance_loss=math.log(SPECIES), forward=lambda model, b: model(b.spec),
                       targets=lambda b: b.species)
