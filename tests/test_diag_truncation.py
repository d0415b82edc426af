"""Sequences cut at a fixed width (truncation.cut_sequences): the trained model's loss stays on the rows that fill
the batch's width, not on the rows one token shorter."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from orchestrator.task import Problem
from test_diag_start import found, run

torch.set_num_threads(1)
PAD, VOCAB = 0, 13


class LastToken(nn.Module):
    """Reads the last real token of a right-padded row (its length from the padding) and names its class."""

    def __init__(self):
        super().__init__()
        self.embed, self.head = nn.Embedding(VOCAB, 32), nn.Linear(32, VOCAB - 3)

    def forward(self, x):
        last = (x != PAD).sum(1) - 1
        return self.head(torch.tanh(self.embed(x[torch.arange(len(x)), last])))


def last_token_task(seed: int, cut: int = 0) -> Problem:
    """Rows of 3..10 tokens (ids 3..12) labelled with their own last token; `cut`: the rows cut to that width
    after labelling (a data pipeline's tokens[:max_len]), so a cut row's label is a token it no longer holds."""
    g = torch.Generator().manual_seed(seed)
    n, longest = 512, 10
    lengths = torch.randint(3, longest + 1, (n,), generator=g)
    x = torch.randint(3, VOCAB, (n, longest), generator=g)
    x[torch.arange(longest)[None, :] >= lengths[:, None]] = PAD
    y = x[torch.arange(n), lengths - 1] - 3
    if cut:
        x = x[:, :cut]
    torch.manual_seed(seed)
    model = LastToken()

    def evaluate(m):
        with torch.no_grad():
            return {"train/acc": float((m(x).argmax(1) == y).float().mean())}

    return Problem(model=model, train_size=n, get_batch=lambda idx: (x[idx], y[idx]),
                   loss=lambda m, b: F.cross_entropy(m(b[0]), b[1]), evaluate=evaluate, chance_loss=2.3)


def test_sequences_cut_at_a_fixed_width_are_named():
    r, outcome = run(last_token_task(0, cut=8), budget=300, lr=2e-3, batch_size=64, after_failure=True)
    assert not outcome.converged
    d = found(r, "labels_not_learnable")
    assert d and d[0]["evidence"].get("cut"), [(x["code"], x["message"]) for x in r.stage.diagnoses]
    e = d[0]["evidence"]
    assert e["width"] == 8 and e["loss_full"] > 2.5 * e["loss_near"]


@pytest.mark.parametrize("seed", range(3))
def test_rows_that_fill_the_width_whole_are_not(seed):
    # the same task uncut: the longest rows fill the width and are fit like the others (forced to fail: goal 2.0)
    r, outcome = run(last_token_task(seed), budget=300, lr=2e-3, batch_size=64, after_failure=True)
    assert not outcome.converged
    assert not [x for x in found(r, "labels_not_learnable") if x["evidence"].get("cut")]
