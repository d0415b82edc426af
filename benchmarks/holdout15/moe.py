"""Held-out-15 family 1: a mixture-of-experts MLP classifier with a top-2 softmax gate and a load-balancing loss.

Generated tabular data: 4 classes, each a union of 3 Gaussian clusters in 12 dimensions (centres N(0, 0.9^2),
within-cluster std 0.7); one column is an income in dollars (50,000 + 15,000 x a latent feature), the others are
unitless; every column is standardised with the training rows' statistics. Model: a gate (linear 12 -> 6, softmax)
picks the top-2 of 6 experts (linear 12 -> 32, ReLU, linear 32 -> 4) per example; the experts' class probabilities
are mixed by the two gate weights renormalised to sum 1, and the model returns the log of that mixture
(log-probabilities, so `cross_entropy` on them is the mixture's NLL). The loss adds 0.01 x a Switch-style
load-balancing term (6 x sum over experts of the share of top-2 slots routed to it x its mean gate probability)
and 0.001 x the entropy of each example's two routing weights (keeps the choice crisp). Adam at 0.003.
Tuple batches (features (B, 12), classes (B,)). Goal: validation accuracy.
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

BUGS = ("none", "mixture_probs_as_logits", "income_in_dollars", "entropy_of_dense_weights", "experts_in_list")
FEATURES, CLASSES, CLUSTERS, EXPERTS, TOP, HIDDEN = 12, 4, 3, 6, 2, 32
BALANCE, SHARPNESS = 0.01, 0.001
DATA_SEED, N_TRAIN, N_VAL = 0, 2000, 500


def clusters(n: int, g: torch.Generator, centres: torch.Tensor):
    which = torch.randint(len(centres), (n,), generator=g)
    x = centres[which] + 0.7 * torch.randn(n, FEATURES, generator=g)
    x[:, 0] = 50_000 + 15_000 * x[:, 0]  # the income column, in dollars
    return x, which % CLASSES


class Expert(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(FEATURES, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, CLASSES))

    def forward(self, x):
        return self.net(x)


class MoE(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.gate = nn.Linear(FEATURES, EXPERTS)
        if bug == "experts_in_list":
            self.experts = [Expert() for _ in range(EXPERTS)]  # BUG experts_in_list: a plain list, not a ModuleList
        else:
            self.experts = nn.ModuleList(Expert() for _ in range(EXPERTS))
        self.aux = torch.zeros(())

    def forward(self, x):  # (B, 12) -> (B, 4) log-probabilities of the mixture
        probs = F.softmax(self.gate(x), -1)                                  # (B, E)
        top_p, top_i = probs.topk(TOP, -1)                                   # (B, 2)
        top_w = top_p / top_p.sum(-1, keepdim=True)                          # renormalised over the chosen two
        dense_w = torch.zeros_like(probs).scatter(1, top_i, top_w)           # (B, E), zero off the chosen two
        routed_share = (dense_w > 0).float().mean(0) / TOP                   # share of the top-2 slots per expert
        balance = EXPERTS * (routed_share * probs.mean(0)).sum()
        entropy = -(top_w * top_w.log()).sum(-1).mean()
        if self.bug == "entropy_of_dense_weights":
            entropy = -(dense_w * dense_w.log()).sum(-1).mean()  # BUG entropy_of_dense_weights: 0 * log 0 off the top 2
        self.aux = BALANCE * balance + SHARPNESS * entropy
        expert_logp = torch.stack([F.log_softmax(e(x), -1) for e in self.experts], 1)  # (B, E, 4)
        chosen = expert_logp.gather(1, top_i[..., None].expand(-1, -1, CLASSES))      # (B, 2, 4)
        if self.bug == "mixture_probs_as_logits":
            return (top_w[..., None] * chosen.exp()).sum(1)  # BUG mixture_probs_as_logits: probabilities, not their log
        return torch.logsumexp(top_w.log()[..., None] + chosen, 1)  # log sum_k w_k p_k, stable


class MoETask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "moe")
        g = torch.Generator().manual_seed(DATA_SEED)
        centres = 0.9 * torch.randn(CLASSES * CLUSTERS, FEATURES, generator=g)
        (x, y), (vx, vy) = clusters(N_TRAIN, g, centres), clusters(N_VAL, g, centres)
        mean, std = x.mean(0), x.std(0)
        if self.bug == "income_in_dollars":
            mean[0], std[0] = 0.0, 1.0  # BUG income_in_dollars: the income column left out of the standardisation
        self.train, self.val = ((x - mean) / std, y), ((vx - mean) / std, vy)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.train[0][:n], self.train[1][:n]
        model = MoE(self.bug)

        def loss(model, b):
            return F.cross_entropy(model(b[0]), b[1]) + model.aux

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (xs, ys) in (("train", (x, y)), ("val", self.val)):
                    logp = model(xs)
                    out[f"{split}/loss"] = F.cross_entropy(logp, ys).item()
                    out[f"{split}/acc"] = (logp.argmax(-1) == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (x[idx], y[idx]), loss=loss,
                       evaluate=evaluate, chance_loss=math.log(CLASSES), forward=lambda model, b: model(b[0]),
                       targets=lambda b: b[1])
