"""Family 4: a small causal Transformer LM (hand-written attention and layer norm, post-LN as in
Vaswani et al.) on a generated second-order Markov language whose entropy rate is known exactly.

Problem.best_loss is the true source's expected next-token loss on these sequences: no model can
get below it on held-out text without seeing the answer. Each bug is one line, marked
`# BUG <name>`, next to the clean line it replaces.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from orchestrator.task import Problem

from .common import check_bug, evaluating, on_device_of, subset_size

BUGS = ("none", "mask_off_by_one", "naive_softmax", "head_x100", "frozen_embedding", "norm_over_batch")
VOCAB, LENGTH, SUCCESSORS = 8, 16, 2
EVAL_TRAIN = 256  # training sequences measured per evaluation (a bound on its cost)


class MarkovSource:
    """P(next | previous two tokens): each pair of tokens allows SUCCESSORS tokens, with random weights."""

    def __init__(self, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.p = torch.zeros(VOCAB, VOCAB, VOCAB, dtype=torch.float64)
        for a in range(VOCAB):
            for b in range(VOCAB):
                nxt = torch.randperm(VOCAB, generator=g)[:SUCCESSORS]
                w = torch.rand(SUCCESSORS, generator=g, dtype=torch.float64) + 0.2
                self.p[a, b, nxt] = w / w.sum()
        pairs = torch.full((VOCAB, VOCAB), 1.0 / VOCAB ** 2, dtype=torch.float64)  # P(a, b), stationary
        for _ in range(500):
            pairs = torch.einsum("ab,abc->bc", pairs, self.p)
        self.pairs = pairs

    def sample(self, n: int, seed: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        out = torch.empty(n, LENGTH, dtype=torch.long)
        first = torch.multinomial(self.pairs.flatten(), n, replacement=True, generator=g)
        out[:, 0], out[:, 1] = first // VOCAB, first % VOCAB
        for t in range(2, LENGTH):
            out[:, t] = torch.multinomial(self.p[out[:, t - 2], out[:, t - 1]], 1, generator=g).squeeze(1)
        return out

    def best_loss(self) -> float:
        """Expected loss of the true conditionals over predicted positions 1..LENGTH-1 (nats/token)."""
        xlogx = torch.special.xlogy(self.p, self.p)
        rate = -(self.pairs * xlogx.sum(-1)).sum()  # H(X_t | X_t-2, X_t-1)
        marginal = self.pairs.sum(1)
        first = -(torch.special.xlogy(self.pairs, self.pairs).sum() - torch.special.xlogy(marginal, marginal).sum())
        return float((first + (LENGTH - 2) * rate) / (LENGTH - 1))  # position 1 sees one token only


class LayerNorm(nn.Module):
    def __init__(self, d: int, bug: str):
        super().__init__()
        self.gain, self.bias, self.bug = nn.Parameter(torch.ones(d)), nn.Parameter(torch.zeros(d)), bug

    def forward(self, x):
        dim = 0 if self.bug == "norm_over_batch" else -1  # BUG norm_over_batch: statistics over the batch
        mean, var = x.mean(dim, keepdim=True), x.var(dim, keepdim=True, unbiased=False)
        return (x - mean) / torch.sqrt(var + 1e-5) * self.gain + self.bias


class Block(nn.Module):
    def __init__(self, d: int, heads: int, bug: str):
        super().__init__()
        self.heads, self.bug = heads, bug
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.ff = nn.Sequential(nn.Linear(d, 2 * d), nn.ReLU(), nn.Linear(2 * d, d))
        self.norm1, self.norm2 = LayerNorm(d, bug), LayerNorm(d, bug)

    def attend(self, x):
        b, t, d = x.shape
        q, k, v = (z.view(b, t, self.heads, -1).transpose(1, 2) for z in self.qkv(x).chunk(3, -1))
        scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        future = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
        if self.bug == "mask_off_by_one":
            future = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=2)  # BUG: each position sees the next
        scores = scores.masked_fill(future, float("-inf"))
        if self.bug == "naive_softmax":
            weights = scores.exp() / scores.exp().sum(-1, keepdim=True)  # BUG naive_softmax: no max subtracted
        else:
            weights = torch.softmax(scores, dim=-1)
        return self.proj((weights @ v).transpose(1, 2).reshape(b, t, d))

    def forward(self, x):
        x = self.norm1(x + self.attend(x))
        return self.norm2(x + self.ff(x))


class TinyLM(nn.Module):
    def __init__(self, bug: str, d: int = 96, heads: int = 4, layers: int = 2):
        super().__init__()
        self.d = d
        self.tok = nn.Embedding(VOCAB, d)
        self.pos = nn.Embedding(LENGTH, d)
        self.blocks = nn.ModuleList(Block(d, heads, bug) for _ in range(layers))
        self.head = nn.Linear(d, VOCAB)
        if bug == "frozen_embedding":
            self.tok.weight.requires_grad_(False)  # BUG frozen_embedding: meant to freeze pretrained vectors
        if bug == "head_x100":
            with torch.no_grad():
                self.head.weight.mul_(100)  # BUG head_x100: a gain meant for the embedding

    def forward(self, tokens):
        x = self.tok(tokens) * math.sqrt(self.d) + self.pos(torch.arange(tokens.shape[1]))
        for block in self.blocks:
            x = block(x)
        return self.head(x)


class LMTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/excess")

    def __init__(self, bug: str = "none", n_train: int = 2000, n_val: int = 500):
        self.bug = check_bug(bug, BUGS, "lm")
        source = MarkovSource()
        self.train, self.val = source.sample(n_train, seed=1), source.sample(n_val, seed=2)
        self.best = source.best_loss()

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.train))
        train = self.train[:n]
        model = TinyLM(self.bug)

        def forward(model, batch):
            return model(batch[:, :-1])

        def loss(model, batch):
            return F.cross_entropy(forward(model, batch).flatten(0, 1), batch[:, 1:].flatten())

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, data in (("train", train[:EVAL_TRAIN]), ("val", self.val)):
                    data = on_device_of(model, data)
                    logits = forward(model, data)
                    out[f"{split}/loss"] = F.cross_entropy(logits.flatten(0, 1), data[:, 1:].flatten()).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == data[:, 1:]).float().mean().item()
            out["val/excess"] = out["val/loss"] - self.best
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: train[idx], loss=loss, evaluate=evaluate,
                       chance_loss=math.log(VOCAB), forward=forward, targets=lambda batch: batch[:, 1:],
                       best_loss=self.best)
