"""Held-out-5 family 4: a BERT-like masked language model (nn.TransformerEncoder) on a generated Markov chain.

8 tokens from a fixed first-order chain with peaked rows, started from its stationary distribution; lengths
8..16, padded with PAD. In every sequence 15% of the tokens (at least one) are replaced by MASK, once, when the
data is made; the targets are the original tokens there and -100 elsewhere. A key-padding mask keeps attention off
the padding. Dict batches `ids`, `lengths`, `labels`.

`Problem.best_loss` is the Bayes loss on the validation set itself: the chain is known, so the exact posterior of
each masked token given every visible token of its sequence follows from the forward-backward recursions (masked
positions are hidden states, visible ones are observed); best_loss is the mean of -log posterior(true token) over
the validation set's masked positions. Static masks on 3000 sequences overfit before the goal, hence 20000.
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

BUGS = ("none", "targets_everywhere", "pad_mask_on_queries", "bottom_layer_frozen")
TOKENS, MIN_LEN, MAX_LEN, MASK_SHARE, IGNORE = 8, 8, 16, 0.15, -100
PAD, MASK = TOKENS, TOKENS + 1
DIM, HEADS = 32, 4


def chain() -> tuple[torch.Tensor, torch.Tensor]:
    """The transition matrix (peaked rows) and its stationary distribution."""
    g = torch.Generator().manual_seed(11)
    gamma = -torch.log(torch.rand(TOKENS, TOKENS, generator=g)) ** 4
    p = (gamma / gamma.sum(1, keepdim=True)).double()
    evals, evecs = torch.linalg.eig(p.T)
    pi = evecs[:, evals.real.argmax()].real
    return p, pi / pi.sum()


def masked_corpus(n: int, seed: int, bug: str) -> dict[str, torch.Tensor]:
    p, pi = chain()
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(MIN_LEN, MAX_LEN + 1, (n,), generator=g)
    tokens = torch.full((n, MAX_LEN), PAD)
    tokens[:, 0] = torch.multinomial(pi.float(), n, replacement=True, generator=g)
    for t in range(1, MAX_LEN):
        tokens[:, t] = torch.multinomial(p[tokens[:, t - 1].clamp_max(TOKENS - 1)].float(), 1, generator=g)[:, 0]
    real = torch.arange(MAX_LEN) < lengths[:, None]
    tokens[~real] = PAD
    masked = (torch.rand(n, MAX_LEN, generator=g) < MASK_SHARE) & real
    none = ~masked.any(1)
    masked[none, (torch.rand(int(none.sum()), generator=g) * lengths[none]).long()] = True  # at least one
    ids = tokens.masked_fill(masked, MASK)
    labels = tokens.masked_fill(~masked, IGNORE)
    if bug == "targets_everywhere":
        labels = tokens.masked_fill(~real, IGNORE)  # BUG targets_everywhere: every real token is a target
    return {"ids": ids, "lengths": lengths, "labels": labels, "tokens": tokens, "masked": masked}


def bayes_loss(data: dict[str, torch.Tensor]) -> float:
    """Mean -log p(token | the visible tokens) over the masked positions, by forward-backward over the chain."""
    p, pi = chain()
    total, count = 0.0, 0
    for tokens, masked, length in zip(data["tokens"], data["masked"], data["lengths"].tolist()):
        seen = torch.ones(length, TOKENS, dtype=torch.float64)  # emission: 1 where the token is possible
        for t in range(length):
            if not masked[t]:
                seen[t] = 0.0
                seen[t, tokens[t]] = 1.0
        alpha = torch.empty(length, TOKENS, dtype=torch.float64)
        beta = torch.ones(length, TOKENS, dtype=torch.float64)
        alpha[0] = pi * seen[0]
        alpha[0] /= alpha[0].sum()
        for t in range(1, length):
            alpha[t] = (alpha[t - 1] @ p) * seen[t]
            alpha[t] /= alpha[t].sum()
        for t in range(length - 2, -1, -1):
            beta[t] = p @ (seen[t + 1] * beta[t + 1])
            beta[t] /= beta[t].sum()
        for t in range(length):
            if masked[t]:
                post = alpha[t] * beta[t]
                total -= math.log(post[tokens[t]] / post.sum())
                count += 1
    return total / count


class MaskedLM(nn.Module):
    def __init__(self, bug: str, depth: int = 2):
        super().__init__()
        self.bug = bug
        self.tok = nn.Embedding(TOKENS + 2, DIM, padding_idx=PAD)
        self.pos = nn.Embedding(MAX_LEN, DIM)
        layer = nn.TransformerEncoderLayer(DIM, HEADS, dim_feedforward=2 * DIM, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        if bug == "bottom_layer_frozen":
            self.encoder.layers[0].requires_grad_(False)  # BUG bottom_layer_frozen: frozen "for a warm-up", never freed
        self.head = nn.Linear(DIM, TOKENS)

    def forward(self, ids, lengths):
        t = ids.shape[1]
        pad = torch.arange(t) >= lengths[:, None]  # (B, T): True at padding
        blocked = pad[:, None, :].expand(-1, t, -1)  # (B, T queries, T keys): no query looks at a padded key
        if self.bug == "pad_mask_on_queries":
            blocked = pad[:, :, None].expand(-1, -1, t)  # BUG pad_mask_on_queries: broadcast over the query axis
        h = self.tok(ids) + self.pos(torch.arange(t))
        h = self.encoder(h, mask=blocked.repeat_interleave(HEADS, 0))
        return self.head(h)  # (B, T, TOKENS)


class MLMTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/excess")

    def __init__(self, bug: str = "none", n_train: int = 20000, n_val: int = 500):
        self.bug = check_bug(bug, BUGS, "mlm")
        self.train, self.val = masked_corpus(n_train, 0, self.bug), masked_corpus(n_val, 1, self.bug)
        self.best = bayes_loss(self.val)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.train["ids"]))
        keys = ("ids", "lengths", "labels")
        train = {k: self.train[k][:n] for k in keys}
        val = {k: self.val[k] for k in keys}
        seen = {k: v[:1000] for k, v in train.items()}  # training metrics on at most 1000 sequences: cheaper
        model = MaskedLM(self.bug)

        def forward(model, batch):
            return model(batch["ids"], batch["lengths"])

        def loss(model, batch):
            return F.cross_entropy(forward(model, batch).flatten(0, 1), batch["labels"].flatten(),
                                   ignore_index=IGNORE)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, data in (("train", seen), ("val", val)):
                    logits, labels = forward(model, data), data["labels"]
                    real = labels != IGNORE
                    out[f"{split}/loss"] = F.cross_entropy(logits[real], labels[real]).item()
                    out[f"{split}/acc"] = (logits[real].argmax(-1) == labels[real]).float().mean().item()
            out["val/excess"] = out["val/loss"] - self.best
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: {k: v[idx] for k, v in train.items()},
                       loss=loss, evaluate=evaluate, chance_loss=math.log(TOKENS), best_loss=self.best,
                       forward=forward, targets=lambda batch: batch["labels"])
