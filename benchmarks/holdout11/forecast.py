"""Held-out-11 family 2: an LSTM encoder-decoder forecasting a noisy sum of two sines 8 steps ahead.

Each example: x_t = a1 sin(2 pi f1 t + p1) + a2 sin(2 pi f2 t + p2) + noise (std 0.1), with random amplitudes
(0.5..1), frequencies (0.02..0.12 cycles per step) and phases; the model reads 24 steps and predicts the next 8.
Each window is scaled by its own past (mean and std over its 24 steps, undone on the outputs), as instance
normalisation does. Model: an LSTM encoder (64) over the past, an LSTMCell decoder (64) started from the encoder's
state, a linear output; in training the decoder is fed the true previous value (teacher forcing), in evaluation its
own prediction (autoregressive rollout). MSE. Tuple batches (past (B, 24), future (B, 8)).
Goal: the rollout's validation MSE (mode min; val/skill is 1 - it / the last value repeated's).
Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "pasts_shuffled_alone", "futures_in_watts", "encoder_state_detached", "scaled_by_batch")
PAST, FUTURE, HIDDEN, NOISE = 24, 8, 64, 0.1
DATA_SEED, N_TRAIN, N_VAL = 0, 2000, 500


def windows(n: int, g: torch.Generator, bug: str) -> tuple[torch.Tensor, torch.Tensor]:
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(n, 2, 1, generator=g)  # noqa: E731
    amp, freq, phase = u(0.5, 1.0), u(0.02, 0.12), u(0, 2 * math.pi)
    t = torch.arange(PAST + FUTURE).float()
    series = (amp * torch.sin(2 * math.pi * freq * t + phase)).sum(1) + NOISE * torch.randn(n, PAST + FUTURE,
                                                                                            generator=g)
    past, future = series[:, :PAST], series[:, PAST:]
    if bug == "futures_in_watts":
        future = 2000 + 500 * future  # BUG futures_in_watts: the targets read from the meter's raw column
    if bug == "pasts_shuffled_alone":
        past = past[torch.randperm(n, generator=g)]  # BUG pasts_shuffled_alone: shuffled, the futures not
    return past, future


class Seq2SeqForecaster(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.encoder = nn.LSTM(1, HIDDEN, batch_first=True)
        self.decoder = nn.LSTMCell(1, HIDDEN)
        self.out = nn.Linear(HIDDEN, 1)

    def forward(self, past, future=None):  # (B, 24), teacher values (B, 8) or None -> (B, 8)
        mu, sd = past.mean(1, keepdim=True), past.std(1, keepdim=True) + 1e-5  # per window, over its time steps
        if self.bug == "scaled_by_batch":
            mu, sd = past.mean(), past.std()  # BUG scaled_by_batch: one mean and std over the whole batch
        past_n = (past - mu) / sd
        _, (h, c) = self.encoder(past_n.unsqueeze(-1))
        h, c = h[0], c[0]
        if self.bug == "encoder_state_detached":
            h, c = h.detach(), c.detach()  # BUG encoder_state_detached: truncated-BPTT habit at the hand-over
        prev, preds = past_n[:, -1:], []
        for k in range(FUTURE):
            h, c = self.decoder(prev, (h, c))
            y = self.out(h)
            preds.append(y)
            prev = ((future[:, k:k + 1] - mu) / sd) if future is not None else y  # teacher forcing, or rollout
        return torch.cat(preds, 1) * sd + mu


class ForecastTask:
    metrics = ("train/loss", "train/mse", "val/mse", "val/naive_mse", "val/skill")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "forecast")
        g = torch.Generator().manual_seed(DATA_SEED)
        # the validation windows go through the same loading code (so share its scale bug), not the training shuffle
        self.train = windows(N_TRAIN, g, bug)
        self.val = windows(N_VAL, g, bug if bug == "futures_in_watts" else "none")

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        past, future = self.train[0][:n], self.train[1][:n]
        model = Seq2SeqForecaster(self.bug)

        def evaluate(model):
            with evaluating(model):
                train_mse = F.mse_loss(model(past), future).item()
                vp, vf = self.val
                val_mse = F.mse_loss(model(vp), vf).item()
                naive = F.mse_loss(vp[:, -1:].expand_as(vf), vf).item()  # the last value repeated
                teacher = F.mse_loss(model(past, future), future).item()
            return {"train/loss": teacher, "train/mse": train_mse, "val/mse": val_mse, "val/naive_mse": naive,
                    "val/skill": 1 - val_mse / naive}

        return Problem(model=model, train_size=n, get_batch=lambda idx: (past[idx], future[idx]),
                       loss=lambda model, batch: F.mse_loss(model(batch[0], batch[1]), batch[1]),
                       evaluate=evaluate, chance_loss=self.train[1].var().item(),
                       forward=lambda model, batch: model(batch[0], batch[1]), targets=lambda batch: batch[1])
