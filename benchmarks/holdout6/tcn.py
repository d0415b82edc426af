"""Held-out-6 family 3: a causal dilated 1-D convolution language model (WaveNet-like) on a second-order Markov source.

8 tokens; each pair of previous tokens allows 2 successors with random weights; sequences of 32 tokens started
from the stationary pair distribution. Embedding to 48 channels, 4 residual blocks (kernel 3, dilations 1, 2, 4, 8:
a receptive field of 31) each a left-padded conv (position t sees only positions <= t), ReLU and a 1x1 conv, then
a linear head. `Problem.best_loss` is the true source's expected next-token loss (its entropy rate, the second
position's conditional entropy given one token). Tensor batches of token ids. Each bug is one line, marked
`# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "centred_padding", "loss_summed", "embedding_detached")
VOCAB, LENGTH, SUCCESSORS, CHANNELS, KERNEL, DILATIONS = 8, 32, 2, 48, 3, (1, 2, 4, 8)
EVAL_TRAIN = 256  # training sequences measured per evaluation


class SecondOrderSource:
    """P(next | previous two tokens), with a stationary distribution over pairs for the first two tokens."""

    def __init__(self, seed: int = 3):
        g = torch.Generator().manual_seed(seed)
        self.p = torch.zeros(VOCAB, VOCAB, VOCAB, dtype=torch.float64)
        for a in range(VOCAB):
            for b in range(VOCAB):
                nxt = torch.randperm(VOCAB, generator=g)[:SUCCESSORS]
                w = torch.rand(SUCCESSORS, generator=g, dtype=torch.float64) + 0.3
                self.p[a, b, nxt] = w / w.sum()
        pairs = torch.full((VOCAB, VOCAB), 1.0 / VOCAB ** 2, dtype=torch.float64)
        for _ in range(500):
            pairs = torch.einsum("ab,abc->bc", pairs, self.p)
        self.pairs = pairs

    def sample(self, n: int, seed: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        out = torch.empty(n, LENGTH, dtype=torch.long)
        first = torch.multinomial(self.pairs.flatten().float(), n, replacement=True, generator=g)
        out[:, 0], out[:, 1] = first // VOCAB, first % VOCAB
        for t in range(2, LENGTH):
            out[:, t] = torch.multinomial(self.p[out[:, t - 2], out[:, t - 1]].float(), 1, generator=g)[:, 0]
        return out

    def best_loss(self) -> float:
        """Mean over predicted positions 1..LENGTH-1 of the true conditional entropy (nats/token)."""
        rate = -(self.pairs * torch.special.xlogy(self.p, self.p).sum(-1)).sum()  # H(X_t | X_t-2, X_t-1)
        marginal = self.pairs.sum(1)
        second = -(torch.special.xlogy(self.pairs, self.pairs).sum() - torch.special.xlogy(marginal, marginal).sum())
        return float((second + (LENGTH - 2) * rate) / (LENGTH - 1))


class CausalBlock(nn.Module):
    def __init__(self, dilation: int, bug: str):
        super().__init__()
        self.pad, self.bug = (KERNEL - 1) * dilation, bug
        self.conv = nn.Conv1d(CHANNELS, CHANNELS, KERNEL, dilation=dilation)
        self.mix = nn.Conv1d(CHANNELS, CHANNELS, 1)

    def forward(self, x):  # (B, C, T)
        padded = F.pad(x, (self.pad, 0))  # all the padding on the left: output t sees inputs t - pad .. t
        if self.bug == "centred_padding":
            padded = F.pad(x, (self.pad // 2, self.pad // 2))  # BUG centred_padding: "same" padding, sees the future
        return x + self.mix(F.relu(self.conv(padded)))


class TCN(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.emb = nn.Embedding(VOCAB, CHANNELS)
        self.blocks = nn.Sequential(*(CausalBlock(d, bug) for d in DILATIONS))
        self.head = nn.Linear(CHANNELS, VOCAB)

    def forward(self, tokens):  # (B, T) -> (B, T, VOCAB)
        h = self.emb(tokens)
        if self.bug == "embedding_detached":
            h = self.emb(tokens).detach()  # BUG embedding_detached: "lookups need no gradient"
        return self.head(self.blocks(h.transpose(1, 2)).transpose(1, 2))


class TCNTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/excess")

    def __init__(self, bug: str = "none", n_train: int = 2000, n_val: int = 500):
        self.bug = check_bug(bug, BUGS, "tcn")
        source = SecondOrderSource()
        self.train, self.val = source.sample(n_train, seed=1), source.sample(n_val, seed=2)
        self.best = source.best_loss()

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.train))
        train = self.train[:n]
        model = TCN(self.bug)
        reduction = "mean"
        if self.bug == "loss_summed":
            reduction = "sum"  # BUG loss_summed: summed over the batch's tokens, not averaged

        def forward(model, batch):
            return model(batch[:, :-1])

        def loss(model, batch):
            return F.cross_entropy(forward(model, batch).flatten(0, 1), batch[:, 1:].flatten(), reduction=reduction)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, data in (("train", train[:EVAL_TRAIN]), ("val", self.val)):
                    logits = forward(model, data)
                    out[f"{split}/loss"] = F.cross_entropy(logits.flatten(0, 1), data[:, 1:].flatten()).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == data[:, 1:]).float().mean().item()
            out["val/excess"] = out["val/loss"] - self.best
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: train[idx], loss=loss, evaluate=evaluate,
                       chance_loss=math.log(VOCAB), forward=forward, targets=lambda batch: batch[:, 1:],
                       best_loss=self.best)
