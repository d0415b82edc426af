"""Held-out-4 family 3: an LSTM language model with weight tying on a generated first-order Markov chain.

8 tokens; a fixed transition matrix drawn from a peaked Dirichlet; sequences of 33 tokens start from the
stationary distribution, so every next token has the same conditional entropy: the chain's entropy rate,
which is `Problem.best_loss` (nats/token). The decoder's weight IS the embedding's weight. `val/excess` is the
validation loss above that rate. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "target_not_shifted", "bidirectional", "log_softmax_over_time", "lr_1")
VOCAB, LENGTH = 8, 33


def chain() -> tuple[torch.Tensor, torch.Tensor, float]:
    """The transition matrix, its stationary distribution and its entropy rate in nats."""
    g = torch.Generator().manual_seed(7)
    gamma = -torch.log(torch.rand(VOCAB, VOCAB, generator=g)) ** 3  # heavy-tailed -> peaked rows
    p = gamma / gamma.sum(1, keepdim=True)
    evals, evecs = torch.linalg.eig(p.T.double())
    pi = evecs[:, evals.real.argmax()].real
    pi = (pi / pi.sum()).float()
    rate = -(pi[:, None] * p * torch.log(p.clamp_min(1e-30))).sum().item()
    return p, pi, rate


def sample(n: int, seed: int) -> torch.Tensor:
    p, pi, _ = chain()
    g = torch.Generator().manual_seed(seed)
    seq = torch.empty(n, LENGTH, dtype=torch.long)
    seq[:, 0] = torch.multinomial(pi, n, replacement=True, generator=g)
    for t in range(1, LENGTH):
        seq[:, t] = torch.multinomial(p[seq[:, t - 1]], 1, generator=g)[:, 0]
    return seq


class TiedLSTM(nn.Module):
    def __init__(self, bug: str, dim: int = 32):
        super().__init__()
        bidir = False
        if bug == "bidirectional":
            bidir = True  # BUG bidirectional: "a BiLSTM is stronger": the backward half reads the future tokens
        self.emb = nn.Embedding(VOCAB, dim)
        self.lstm = nn.LSTM(dim, dim, batch_first=True, bidirectional=bidir)
        self.proj = nn.Linear(dim * (2 if bidir else 1), dim)
        self.out = nn.Linear(dim, VOCAB)
        self.out.weight = self.emb.weight  # weight tying

    def forward(self, ids):
        h, _ = self.lstm(self.emb(ids))
        return self.out(torch.tanh(self.proj(h)))  # (B, T, VOCAB)


def split(seq: torch.Tensor, bug: str) -> tuple[torch.Tensor, torch.Tensor]:
    if bug == "target_not_shifted":
        return seq[:, :-1], seq[:, :-1]  # BUG target_not_shifted: targets seq[:, :-1], not seq[:, 1:]
    return seq[:, :-1], seq[:, 1:]


class LSTMLMTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/excess")

    def __init__(self, bug: str = "none", n_train: int = 2000, n_val: int = 300):
        self.bug = check_bug(bug, BUGS, "lstmlm")
        self.train, self.val = sample(n_train, seed=0), sample(n_val, seed=1)
        self.rate = chain()[2]

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.train))
        train = self.train[:n]
        model = TiedLSTM(self.bug)

        def loss(model, batch):
            x, y = batch
            logits = model(x)
            if self.bug == "log_softmax_over_time":
                return F.nll_loss(logits.log_softmax(1).flatten(0, 1), y.flatten())  # BUG log_softmax_over_time
            return F.cross_entropy(logits.flatten(0, 1), y.flatten())

        def evaluate(model):
            out = {}
            with evaluating(model):
                for name, seq in (("train", train), ("val", self.val)):
                    x, y = split(seq, self.bug)
                    logits = model(x)
                    out[f"{name}/loss"] = F.cross_entropy(logits.flatten(0, 1), y.flatten()).item()
                    out[f"{name}/acc"] = (logits.argmax(-1) == y).float().mean().item()
            out["val/excess"] = out["val/loss"] - self.rate
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: split(train[idx], self.bug), loss=loss,
                       evaluate=evaluate, chance_loss=math.log(VOCAB), best_loss=self.rate,
                       forward=lambda model, batch: model(batch[0]), targets=lambda batch: batch[1])
