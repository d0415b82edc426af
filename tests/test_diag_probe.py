"""The LR probe between its grid points: a configured LR there is probed itself when the probe above failed late."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from diag_families import Sinks

from orchestrator import diagnostics
from orchestrator.config import OptimConfig, RunConfig
from orchestrator.ladder import Goal, Stage
from orchestrator.task import Problem
from orchestrator.trainer import TrainSettings

torch.set_num_threads(1)


def line_problem(seed=0, n=64, power=12.5) -> Problem:
    # y = 2x + noise, fitted by one weight under plain SGD: each step multiplies the error by 1 - 2 lr E[x^2], so
    # the step diverges above lr = 1 / E[x^2] (E[x^2] = `power`); the probe's grid is 1, 0.333, 0.111, 0.037, ...
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, generator=g)
    x = x / x.pow(2).mean().sqrt() * math.sqrt(power)
    y = 2 * x + 0.1 * torch.randn(n, 1, generator=g)
    torch.manual_seed(seed)
    model = nn.Linear(1, 1, bias=False)
    return Problem(model=model, train_size=n, get_batch=lambda idx: (x[idx], y[idx]),
                   loss=lambda m, b: F.mse_loss(m(b[0]), b[1]), evaluate=lambda m: {},
                   chance_loss=float(y.pow(2).mean()))


def probe(problem_fn, lr, batch_size=64):
    st = Stage("s", Goal("val/loss", 0.0, "min"), knobs={})
    settings = TrainSettings(budget=100, lr=lr, batch_size=batch_size, optim=OptimConfig(name="sgd", momentum=0.0),
                             seed=0)
    got = diagnostics.before_stage(RunConfig(task=None), st, lambda knobs: problem_fn(), settings, Sinks())
    return st, got


def test_a_configured_lr_between_the_grid_points_is_probed_itself_when_the_one_above_failed_late():
    # E[x^2] = 9.045: 0.111 grows the error by 1% a step and passes 4x its start only after ~70 steps; 0.05 is
    # the user's, between 0.037 (clean) and 0.111: probed itself, clean, kept
    st, lr = probe(lambda: line_problem(power=9.045), 0.05)
    d = next(d for d in st.diagnoses if d["code"] in ("lr_probe", "lr_too_high"))
    assert d["code"] == "lr_probe" and lr == 0.05
    probes = d["evidence"]["probes"]
    assert probes[-3]["outcome"] == "diverged" and probes[-3]["first_bad_iteration"] > 50
    assert [round(p["lr"], 3) for p in probes][-2:] == [0.037, 0.05]
    # E[x^2] = 12.5: 0.111 blows up at once, so the threshold may lie anywhere below it: 0.05 is lowered as before
    st, lr = probe(lambda: line_problem(power=12.5), 0.05)
    d = next(d for d in st.diagnoses if d["code"] in ("lr_probe", "lr_too_high"))
    assert d["code"] == "lr_too_high" and lr < 0.037
    assert not any(round(p["lr"], 3) == 0.05 for p in d["evidence"]["probes"])


def test_a_loss_that_moves_at_no_lr_is_not_called_a_too_high_lr():
    # every conv unit dead from the start (a bias of -20 under a ReLU): the loss sits still at every LR tried, none
    # diverges, and nothing says the LR is too high (holdout20's keypoint/conv_bias_minus_2 was told it was)
    def dead():
        p = line_problem()
        torch.manual_seed(0)
        p.model = nn.Sequential(nn.Linear(1, 8), nn.ReLU(), nn.Linear(8, 1, bias=False))
        nn.init.constant_(p.model[0].bias, -20.0)
        return p
    st, _ = probe(dead, lr=0.01)
    codes = {d["code"]: d for d in st.diagnoses}
    assert "lr_too_high" not in codes, st.diagnoses
    assert "does not move at any LR" in codes["lr_probe"]["message"]


# --- the two ends of "1-10x below the threshold" ---------------------------------------------------------------

class Reverser(nn.Module):
    """A post-LN Transformer encoder that reverses its tokens: under Adam it stays finite far above the LR it
    learns at (the threshold / 3 of a probe from LR 5 leaves its loss at chance)."""

    def __init__(self, vocab=12, d=32):
        super().__init__()
        self.emb, self.pos = nn.Embedding(vocab, d), nn.Embedding(32, d)
        self.enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(d, 4, 64, dropout=0.0, batch_first=True), 2,
                                         enable_nested_tensor=False)
        self.out = nn.Linear(d, vocab)

    def forward(self, t):
        return self.out(self.enc(self.emb(t) + self.pos(torch.arange(t.shape[1]))))


def reverse_problem(seed=0, n=10, length=12, vocab=12) -> Problem:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, vocab, (n, length), generator=g)
    torch.manual_seed(seed)
    return Problem(model=Reverser(vocab), train_size=n, get_batch=lambda i: (x[i], x[i].flip(1)),
                   loss=lambda m, b: F.cross_entropy(m(b[0]).flatten(0, 1), b[1].flatten()), evaluate=lambda m: {},
                   chance_loss=math.log(vocab))


def raced(problem_fn, lr, optim=None, batch_size=10):
    from orchestrator.diagnostics.config import DiagnosticsConfig, ProbeConfig
    st = Stage("s", Goal("val/loss", 0.0, "min"), knobs={})
    settings = TrainSettings(budget=100, lr=lr, batch_size=batch_size, optim=optim or OptimConfig(), seed=0)
    cfg = RunConfig(task=None, diagnostics=DiagnosticsConfig(probe=ProbeConfig(race=True)))
    got = diagnostics.before_stage(cfg, st, lambda knobs: problem_fn(), settings, Sinks())
    return st, got


def adam_probe(problem_fn, lr):
    st, got = raced(problem_fn, lr)
    return next(d for d in st.diagnoses if d["code"] == "lr_too_high"), got


def test_the_race_is_off_by_default():
    st, lr = probe(lambda: line_problem(), 1.0)
    d = next(d for d in st.diagnoses if d["code"] == "lr_too_high")
    assert "race" not in d["evidence"] and math.isclose(lr, d["evidence"]["threshold"] / 3)


def test_a_lowered_lr_trains_at_the_far_end_when_the_high_end_leaves_the_loss_far_behind():
    for seed in range(3):
        d, lr = adam_probe(lambda: reverse_problem(seed), 5.0)
        ev = d["evidence"]
        race = ev["race"]
        assert math.isclose(lr, ev["threshold"] / 10) and race["winner"] == lr, (seed, race)
        assert race["far"]["final_loss"] < 0.1 * race["high"]["final_loss"], race
        # the far end already: the stage has nothing lower to be retried at
        assert "fallback_lr" not in ev and "threshold/10" in d["message"] and "against" in d["message"]


def test_a_lowered_lr_keeps_the_high_end_where_it_trains_as_well():
    # plain SGD on a line: a larger step fits faster, so threshold / 3 stays the pick and threshold / 10 the retry
    st, lr = raced(lambda: line_problem(), 1.0, OptimConfig(name="sgd", momentum=0.0), batch_size=64)
    d = next(d for d in st.diagnoses if d["code"] == "lr_too_high")
    ev = d["evidence"]
    assert math.isclose(lr, ev["threshold"] / 3) and ev["race"]["winner"] == lr
    assert math.isclose(ev["fallback_lr"], ev["threshold"] / 10)
    assert ev["race"]["high"]["final_loss"] <= ev["race"]["far"]["final_loss"]


def test_a_loss_that_crosses_zero_diverges_only_past_the_way_it_came_down():
    from orchestrator.diagnostics.probe import _ceiling
    # a positive loss (cross-entropy from 2.3, now at 0.5): lr_find's 4x its first value
    assert 9.1 < _ceiling(2.3, 0.5, 4.0) < 9.3
    # a Gaussian likelihood from 0.94 down to -3.1 (a clean head under Adam): a spike to 3.4 is not divergence,
    # a jump of three times the way down past its start is
    assert _ceiling(0.94, -3.1, 4.0) > 3.4
    assert _ceiling(0.94, -3.1, 4.0) < 14.0


def test_a_threshold_no_probe_crossed_is_not_measured():
    # a sigmoid output diverges at no LR: the first LR tried (the probe's top) trains cleanly, and "1000x below the
    # threshold" would only measure the probe's range (holdout46's rings/sigmoid_output)
    from orchestrator.diagnostics.failure import measured_threshold
    top_only = {"threshold": 1.0, "probes": [{"lr": 1.0, "outcome": "clean"}]}
    crossed = {"threshold": 0.111, "probes": [{"lr": 1.0, "outcome": "nonfinite"}, {"lr": 0.333, "outcome": "diverged"},
                                              {"lr": 0.111, "outcome": "clean"}]}
    assert measured_threshold(top_only) == 0.0
    assert 0.11 < measured_threshold(crossed) < 0.112
    assert measured_threshold(None) == 0.0
