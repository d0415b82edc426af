"""The future-positions check (`leakage`) on a left-padded language model with hand-written attention: a padding
position attends to every key (no visible one), which is no leak since the loss never reads it; labels sliced like
the inputs (not shifted) are a leak when the model is causal, and a copy task's encoder is not."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from orchestrator.diagnostics.future import future_leak
from orchestrator.task import Problem

PAD, VOCAB, WIDTH = 0, 12, 10


class TinyLM(nn.Module):
    def __init__(self, causal: bool = True):
        super().__init__()
        self.causal = causal
        self.embed, self.pos = nn.Embedding(VOCAB, 32), nn.Embedding(WIDTH, 32)
        self.qkv, self.out = nn.Linear(32, 96), nn.Linear(32, VOCAB)

    def forward(self, tokens):
        t = tokens.shape[1]
        x = self.embed(tokens) + self.pos(torch.arange(t))
        q, k, v = self.qkv(x).split(32, -1)
        blocked = (tokens == PAD)[:, None, :].expand(-1, t, -1)
        if self.causal:
            blocked = blocked | torch.ones(t, t, dtype=torch.bool).triu(1)
        # a padding query sees no key at all: -1e9 everywhere, so its softmax spreads over every key, later ones too
        scores = (q @ k.transpose(1, 2) / 32 ** 0.5).masked_fill(blocked, -1e9)
        return self.out(x + scores.softmax(-1) @ v)


def sequences(seed: int, n: int = 32, shifted: bool = True):
    """Left-padded sequences of 4..10 tokens; labels the next token (or, unshifted, the token itself), PAD unscored."""
    g = torch.Generator().manual_seed(seed)
    tokens, labels = torch.full((n, WIDTH), PAD), torch.full((n, WIDTH), PAD)
    for i in range(n):
        length = int(torch.randint(5, WIDTH + 2, (1,), generator=g))
        seq = torch.randint(1, VOCAB, (length,), generator=g)
        tokens[i, WIDTH - length + 1:] = seq[:-1]
        labels[i, WIDTH - length + 1:] = seq[1:] if shifted else seq[:-1]
    return tokens, labels


def problem(seed: int, shifted: bool = True, causal: bool = True) -> Problem:
    torch.manual_seed(seed)
    tokens, labels = sequences(seed, shifted=shifted)
    return Problem(model=TinyLM(causal).eval(), train_size=len(tokens),
                   get_batch=lambda idx: (tokens[idx], labels[idx]),
                   loss=lambda m, b: F.cross_entropy(m(b[0]).flatten(0, 1), b[1].flatten(), ignore_index=PAD),
                   evaluate=lambda m: {})


def leak(p: Problem):
    return future_leak(p, p.model, p.get_batch(torch.arange(16)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_left_padding_that_attends_everywhere_is_no_leak_but_unshifted_labels_are(seed):
    assert leak(problem(seed)) is None  # the padding positions move, and the loss never reads them
    d = leak(problem(seed, shifted=False))
    assert d is not None and d.code == "leakage" and d.severity == "error" and d.evidence["own_target"]
    d = leak(problem(seed, causal=False))  # the mask forgotten: a scored position sees later tokens
    assert d is not None and d.code == "leakage" and "own_target" not in d.evidence


@pytest.mark.parametrize("seed", [0, 1])
def test_a_copy_task_whose_model_sees_the_whole_source_is_no_leak(seed):
    # targets equal to the inputs position by position: an encoder that reads all of them (an autoencoder, a copy
    # task) has no future to hide; only a causal model reading its own target is a leak
    assert leak(problem(seed, shifted=False, causal=False)) is None
