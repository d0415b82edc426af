"""Per-position targets one step ahead of what a left-to-right model sees (shifted.shifted_targets)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from orchestrator.ladder import Goal, Stage
from orchestrator.task import Problem
from test_diag_start import found, run

torch.set_num_threads(1)


class Tagger(nn.Module):
    """Embedding, a GRU read left to right (or both ways), one score per class per position."""

    def __init__(self, both: bool = False):
        super().__init__()
        self.emb = nn.Embedding(6, 16)
        self.rnn = nn.GRU(16, 32, batch_first=True, bidirectional=both)
        self.out = nn.Linear(64 if both else 32, 2)

    def forward(self, x):
        return self.out(self.rnn(self.emb(x))[0])


def seen_before(seed: int, ahead: bool, both: bool = False, n: int = 200) -> Problem:
    """Tag each token 1 if it appeared earlier in the sequence; `ahead`: each position gets the next one's tag."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 6, (200, 12), generator=g)[:n]
    y = torch.stack([torch.tensor([int(bool((row[:t] == row[t]).any())) for t in range(12)]) for row in x])
    if ahead:
        y = torch.cat([y[:, 1:], torch.full((n, 1), -100)], 1)
    torch.manual_seed(seed)
    model = Tagger(both)

    def evaluate(m):
        with torch.no_grad():
            return {"train/acc": float((m(x).argmax(-1) == y)[y >= 0].float().mean())}

    return Problem(model=model, train_size=n, get_batch=lambda i: (x[i], y[i]),
                   loss=lambda m, b: F.cross_entropy(m(b[0]).flatten(0, 1), b[1].flatten()), evaluate=evaluate,
                   chance_loss=0.69)


def shifted(r):
    return [d for d in found(r, "labels_not_learnable") if d["evidence"].get("shifted_targets")]


def test_targets_one_position_ahead_of_a_left_to_right_model_are_named():
    r, outcome = run(seen_before(0, ahead=True), budget=150, lr=1e-2, batch_size=32, after_failure=True,
                     stage=Stage("s", Goal("train/acc", 0.99, "max"), knobs={}))
    d = shifted(r)
    assert not outcome.converged and d and d[0]["severity"] == "error", [x["message"] for x in r.stage.diagnoses]


@pytest.mark.parametrize("seed", range(2))
def test_aligned_targets_or_a_model_that_reads_both_ways_are_not(seed):
    for problem in (seen_before(seed, ahead=False), seen_before(seed, ahead=True, both=True)):
        r, outcome = run(problem, budget=100, lr=1e-2, batch_size=32, after_failure=True,
                         stage=Stage("s", Goal("train/acc", 2.0, "max"), knobs={}))
        assert not outcome.converged and not shifted(r), [x["message"] for x in r.stage.diagnoses]


@pytest.mark.parametrize("ahead", [True, False])
def test_a_first_stage_of_ten_examples_is_judged_on_the_task_it_builds_up_to(ahead):
    # 10 examples are memorised with the targets as they are or moved: the examples of the full task tell them apart
    r, outcome = run(seen_before(0, ahead=ahead, n=10), budget=30, lr=1e-2, batch_size=32, after_failure=True,
                     stage=Stage("s", Goal("train/acc", 2.0, "max"), knobs={}),
                     wider=lambda: seen_before(1, ahead=ahead))
    d = shifted(r)
    assert not outcome.converged
    if ahead:
        assert d and d[0]["severity"] == "error" and d[0]["evidence"]["examples"] >= 32, \
            [x["message"] for x in r.stage.diagnoses]
    else:
        assert not d, [x["message"] for x in r.stage.diagnoses]
