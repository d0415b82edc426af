"""Four small model families for the diagnostics' tests, each a Problem as a user would write it.

An MLP on blobs, a small CNN on 8x8 patterns, a GRU encoder-decoder on a copy task (dict batches,
Problem.forward/targets) and a causal Transformer LM on a Markov source (masked attention with -inf,
Problem.best_loss = the source's entropy rate). Keyword arguments inject bugs.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from orchestrator.task import Problem
from stages.classification import tensor_problem


class Sinks:
    """Sinks that drop every event: for checks called directly, without a run directory."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return lambda *a, **k: None


def mlp_problem(seed=0, n=64, x_scale=1.0, x_shift=0.0, last_scale=1.0) -> Problem:
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(3, 8, generator=g)
    y = torch.arange(2 * n) % 3
    x = (centres[y] + 0.7 * torch.randn(2 * n, 8, generator=g)) * x_scale + x_shift
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))
    with torch.no_grad():
        model[2].weight.mul_(last_scale)
    return tensor_problem(model, x[:n], y[:n], x[n:], y[n:], 3)


def cnn_problem(seed=0, n=64, pixel_scale=1.0) -> Problem:
    g = torch.Generator().manual_seed(seed)
    patterns = torch.randn(4, 1, 8, 8, generator=g)
    y = torch.arange(2 * n) % 4
    x = (patterns[y] + 0.5 * torch.randn(2 * n, 1, 8, 8, generator=g)) * pixel_scale
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(8 * 4 * 4, 4))
    return tensor_problem(model, x[:n], y[:n], x[n:], y[n:], 4)


class Seq2Seq(nn.Module):
    def __init__(self, vocab=12, d=32):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.enc, self.dec = nn.GRU(d, d, batch_first=True), nn.GRU(d, d, batch_first=True)
        self.out = nn.Linear(d, vocab)

    def forward(self, src, tgt_in):
        _, h = self.enc(self.emb(src))
        y, _ = self.dec(self.emb(tgt_in), h)
        return self.out(y)


def seq2seq_problem(seed=0, n=64, length=5, vocab=12) -> Problem:
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(2, vocab, (2 * n, length), generator=g)
    tgt_out = src.flip(1)                                    # reverse the sequence
    tgt_in = torch.cat([torch.ones(2 * n, 1, dtype=torch.long), tgt_out[:, :-1]], 1)  # 1 = <bos>
    torch.manual_seed(seed)
    model = Seq2Seq(vocab)

    def batch(i):
        return {"src": src[i], "tgt_in": tgt_in[i], "tgt_out": tgt_out[i]}

    def loss(m, b):
        return F.cross_entropy(m(b["src"], b["tgt_in"]).reshape(-1, vocab), b["tgt_out"].reshape(-1))

    def evaluate(m):
        v = batch(torch.arange(n, 2 * n))
        out = m(v["src"], v["tgt_in"])
        return {"val/loss": F.cross_entropy(out.reshape(-1, vocab), v["tgt_out"].reshape(-1)).item(),
                "val/token_acc": (out.argmax(-1) == v["tgt_out"]).float().mean().item()}

    return Problem(model=model, train_size=n, get_batch=batch, loss=loss, evaluate=evaluate,
                   chance_loss=math.log(vocab), forward=lambda m, b: m(b["src"], b["tgt_in"]),
                   targets=lambda b: b["tgt_out"])


class CausalLM(nn.Module):
    """One attention layer and an MLP; the attention's softmax can be hand-written (`hand_softmax`)."""

    def __init__(self, vocab=8, d=32, hand_softmax=False, score_scale=None, causal=True, mask_first_row=False):
        super().__init__()
        self.emb, self.pos = nn.Embedding(vocab, d), nn.Embedding(64, d)
        self.q, self.k, self.v = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.ReLU(), nn.Linear(2 * d, d))
        self.out = nn.Linear(d, vocab)
        self.hand, self.causal, self.mask_first_row = hand_softmax, causal, mask_first_row
        self.scale = score_scale if score_scale is not None else d ** -0.5

    def forward(self, tokens):
        t = tokens.shape[1]
        h = self.emb(tokens) + self.pos(torch.arange(t, device=tokens.device))
        scores = self.q(h) @ self.k(h).transpose(1, 2) * self.scale
        mask = torch.triu(torch.ones(t, t, dtype=torch.bool, device=tokens.device), 1)
        if not self.causal:
            mask = torch.zeros_like(mask)
        if self.mask_first_row:
            mask = mask.clone()
            mask[0] = True                                    # a query that may see no key at all
        scores = scores.masked_fill(mask, float("-inf"))
        if self.hand:
            att = scores.exp() / scores.exp().sum(-1, keepdim=True)
        else:
            att = torch.softmax(scores, -1)
        h = h + att @ self.v(h)
        h = h + self.mlp(h)
        return self.out(h)


def markov_source(n, length, vocab, seed, stay=0.9):
    """Tokens where the next is (previous + 1) % vocab with probability `stay`, else uniform."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, length, dtype=torch.long)
    x[:, 0] = torch.randint(0, vocab, (n,), generator=g)
    for i in range(1, length):
        jump = torch.rand(n, generator=g) > stay
        x[:, i] = torch.where(jump, torch.randint(0, vocab, (n,), generator=g), (x[:, i - 1] + 1) % vocab)
    p_next = stay + (1 - stay) / vocab
    p_other = (1 - stay) / vocab
    entropy = -(p_next * math.log(p_next) + (vocab - 1) * p_other * math.log(p_other))
    return x, entropy


def lm_problem(seed=0, n=128, length=16, vocab=8, **model_kw) -> Problem:
    x, entropy = markov_source(2 * n, length + 1, vocab, seed)
    train, val = x[:n], x[n:]
    torch.manual_seed(seed)
    model = CausalLM(vocab, **model_kw)

    def loss_on(m, b):
        return F.cross_entropy(m(b[:, :-1]).reshape(-1, vocab), b[:, 1:].reshape(-1))

    # every predicted token (positions 1..length) has a previous one: the best loss is the entropy rate
    best = entropy
    return Problem(model=model, train_size=n, get_batch=lambda i: train[i], loss=loss_on,
                   evaluate=lambda m: {"val/loss": float(loss_on(m, val))}, chance_loss=math.log(vocab),
                   forward=lambda m, b: m(b[:, :-1]), targets=lambda b: b[:, 1:], best_loss=best)


FAMILIES = {"mlp": mlp_problem, "cnn": cnn_problem, "seq2seq": seq2seq_problem, "transformer": lm_problem}
