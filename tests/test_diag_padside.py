"""Targets padded at the other end from their inputs (padside.padded_apart), said before any training."""
from __future__ import annotations

from collections import namedtuple

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from orchestrator import diagnostics
from orchestrator.config import OptimConfig, RunConfig
from orchestrator.diagnostics.config import StartConfig
from orchestrator.diagnostics.padside import padded_apart
from orchestrator.ladder import Goal, Stage
from orchestrator.task import Problem
from orchestrator.trainer import TrainSettings
from test_diag_start import Sinks

torch.set_num_threads(1)
Tagged = namedtuple("Tagged", "tokens tags")
PAD, IGNORE = 0, -100


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb, self.rnn, self.out = nn.Embedding(11, 16, padding_idx=PAD), nn.GRU(16, 16, batch_first=True), \
            nn.Linear(16, 2)

    def forward(self, x):
        return self.out(self.rnn(self.emb(x))[0])


def tagger(seed: int, tags_side: str = "end") -> Problem:
    """Digits 1..10, 3..9 per row, each tagged 1 when larger than the one before it; right-padded tokens, tags padded
    at `tags_side` ('start': the bug)."""
    g = torch.Generator().manual_seed(seed)
    rows = [torch.randint(1, 11, (int(torch.randint(3, 10, (1,), generator=g)),), generator=g) for _ in range(200)]

    def get_batch(idx):
        chosen = [rows[i] for i in idx.tolist()]
        width = max(len(r) for r in chosen)
        tokens, tags = torch.full((len(chosen), width), PAD), torch.full((len(chosen), width), IGNORE)
        for i, r in enumerate(chosen):
            t = torch.cat([torch.zeros(1, dtype=torch.long), (r[1:] > r[:-1]).long()])
            tokens[i, :len(r)] = r
            if tags_side == "start":
                tags[i, width - len(r):] = t
            else:
                tags[i, :len(r)] = t
        return Tagged(tokens, tags)

    torch.manual_seed(seed)
    return Problem(model=Tagger(), train_size=len(rows), get_batch=get_batch,
                   loss=lambda m, b: F.cross_entropy(m(b.tokens).flatten(0, 1), b.tags.flatten(), ignore_index=IGNORE),
                   evaluate=lambda m: {}, chance_loss=0.69, forward=lambda m, b: m(b.tokens), targets=lambda b: b.tags)


def test_tags_padded_at_the_other_end_are_named():
    d = padded_apart(StartConfig(), tagger(0, "start"))
    assert d is not None and d.code == "labels_not_learnable" and d.severity == "error"
    assert d.evidence["apart"] == d.evidence["rows"] >= 4


@pytest.mark.parametrize("seed", range(5))
def test_tags_padded_like_their_tokens_are_not(seed):
    assert padded_apart(StartConfig(), tagger(seed)) is None


def test_random_digits_and_a_source_beside_its_decoder_input_are_not_judged():
    g = torch.Generator().manual_seed(0)
    digits = torch.randint(0, 10, (64, 7), generator=g)  # 0 is a digit: runs at the ends by chance, and inside
    plain = Problem(model=nn.Linear(1, 1), train_size=64, get_batch=lambda i: (digits[i], digits[i].flip(1)),
                    loss=lambda m, b: torch.zeros(()), evaluate=lambda m: {})
    assert padded_apart(StartConfig(), plain) is None
    src = torch.tensor([[0, 0, 5, 6, 7], [0, 3, 4, 5, 6], [0, 0, 0, 8, 9], [2, 3, 4, 5, 6], [0, 0, 7, 8, 9]] * 4)
    tgt = torch.tensor([[5, 6, 7, 0, 0], [3, 4, 5, 6, 0], [8, 9, 0, 0, 0], [2, 3, 4, 5, 6], [7, 8, 9, 0, 0]] * 4)
    tgt_in = torch.cat([torch.ones(20, 1, dtype=torch.long), tgt[:, :-1]], 1)
    sorted_lm = Problem(model=nn.Linear(1, 1), train_size=20, loss=lambda m, b: torch.zeros(()), evaluate=lambda m: {},
                        get_batch=lambda i: {"prefix": src[i], "tgt_in": tgt_in[i], "tgt": tgt[i]},
                        targets=lambda b: b["tgt"])
    assert padded_apart(StartConfig(), sorted_lm) is None  # a left-padded prefix beside its continuation


def test_said_before_the_stage_trains():
    stage = Stage(name="overfit_10", knobs={}, goal=Goal("train/acc", 1.0, "max"), after=[])
    cfg = RunConfig()
    cfg.diagnostics.probe.enabled = False
    settings = TrainSettings(optim=OptimConfig(), lr=1e-3, batch_size=10, seed=0, budget=10)
    diagnostics.before_stage(cfg, stage, lambda knobs: tagger(0, "start"), settings, Sinks())
    assert [d["code"] for d in stage.diagnoses if d["severity"] == "error"][:1] == ["labels_not_learnable"]
