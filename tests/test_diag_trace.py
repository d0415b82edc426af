"""The op-level trace in a masked Transformer: intended -inf is no finding, the op that breaks is named."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from diag_families import CausalLM

from orchestrator.diagnostics.trace import born_here, trace_step

torch.set_num_threads(1)


def lm_loss(m, b):
    return F.cross_entropy(m(b[:, :-1]).reshape(-1, 8), b[:, 1:].reshape(-1))


def trace(**kw):
    torch.manual_seed(0)
    batch = torch.randint(0, 8, (4, 10), generator=torch.Generator().manual_seed(0))
    return trace_step(CausalLM(8, **kw), lm_loss, batch)


def test_a_clean_causal_mask_is_no_finding():
    for hand in (False, True):
        t = trace(hand_softmax=hand)
        assert t["phase"] == "none" and "op" not in t and t["cause"] is None


def test_hand_written_softmax_under_a_mask_is_unstable_softmax():
    t = trace(hand_softmax=True, score_scale=1000.0)
    assert t["op"]["op"] == "exp" and t["cause"] == "unstable_softmax"
    assert t["op"]["inputs"][0]["inf"] > 0  # its input held the mask's -inf, and it was still named


def test_softmax_over_a_fully_masked_row_is_named():
    t = trace(mask_first_row=True)
    assert t["op"]["op"] == "_softmax" and t["cause"] == "fully_masked_row"
    t = trace(mask_first_row=True, hand_softmax=True)  # exp(-inf) = 0 everywhere: 0 / 0
    assert t["op"]["op"] == "div" and t["cause"] == "division_by_zero"


def test_born_here_rules():
    x = torch.tensor([1.0, 100.0, float("-inf")])
    assert born_here([x.exp()], [x], [])                      # exp(100) = inf beside an intended -inf
    assert not born_here([x * 2], [x], [])                    # -inf passed on
    assert not born_here([torch.full((2,), float("-inf"))], [], [float("-inf")])  # written on purpose
    m = torch.tensor([True, False, False])
    assert not born_here([x.masked_fill(m, float("-inf"))], [x, m], [float("-inf")])
    assert born_here([x - x], [x], [])                        # -inf - -inf: a NaN is born


def test_the_lr_probe_names_an_unstable_softmax_before_blaming_the_lr():
    from diag_families import lm_problem
    from test_diag_init import before
    st, lr = before(lambda: lm_problem(hand_softmax=True, score_scale=3.0), lr=3e-3)
    codes = [d["code"] for d in st.diagnoses]
    assert codes.index("unstable_softmax") < codes.index("lr_too_high")
    assert st.diagnoses[codes.index("unstable_softmax")]["evidence"]["op"]["op"] == "exp"


def test_an_additive_mask_in_the_batch_is_no_bad_data():
    from orchestrator.diagnostics.trace import batch_nonfinite
    mask = torch.zeros(4, 4).masked_fill(torch.triu(torch.ones(4, 4, dtype=torch.bool), 1), float("-inf"))
    x = torch.randn(2, 4)
    assert batch_nonfinite((x, mask)) == 0
    x[0, 1] = float("nan")
    assert batch_nonfinite({"x": x, "mask": mask}) == 1


class DegreeNorm(torch.nn.Module):
    """A graph layer's D^-1/2 A D^-1/2 without self loops: an isolated node has degree 0."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 3)

    def forward(self, adj, h):
        d = adj.sum(-1).pow(-0.5)  # 0 ** -0.5 = inf
        return (d[..., None] * adj * d[:, None, :]) @ self.lin(h)


def test_a_negative_power_of_zero_is_a_division_by_zero():
    adj = torch.ones(2, 5, 5)
    adj[:, 4, :] = 0
    adj[:, :, 4] = 0  # node 4 isolated
    h = torch.randn(2, 5, 4, generator=torch.Generator().manual_seed(0))
    y = torch.zeros(2, 5, dtype=torch.long)

    def loss(m, b):
        return F.cross_entropy(m(b[0], b[1]).reshape(-1, 3), b[2].reshape(-1))

    torch.manual_seed(0)
    t = trace_step(DegreeNorm(), loss, (adj, h, y))
    assert t["op"]["op"] == "pow" and t["cause"] == "division_by_zero"


def test_a_mean_over_an_empty_group_is_a_division_by_zero():
    # a per-class mean of the losses: a class absent from the batch has no element, and its mean is 0 / 0
    x, y = torch.randn(6, 4, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 0, 1, 1, 0, 1])

    def loss(m, b):
        per = F.cross_entropy(m(b[0]), b[1], reduction="none")
        return torch.stack([per[b[1] == k].mean() for k in range(3)]).mean()  # class 2 never appears

    torch.manual_seed(0)
    t = trace_step(torch.nn.Linear(4, 3), loss, (x, y))
    assert t["op"]["op"] == "mean" and t["op"]["inputs"][0]["numel"] == 0 and t["cause"] == "division_by_zero"
    # a mean that is NaN because its input already is: not a division's fault
    x[0, 0] = float("nan")
    t = trace_step(torch.nn.Linear(4, 3), lambda m, b: m(b[0]).mean(), (x, y))
    assert t.get("cause") != "division_by_zero"


def test_a_log_of_zero_in_the_evaluation_alone_is_named_by_its_op(tmp_path):
    # training batches stay finite; the validation inputs lie far out, where the hand-written density underflows
    import math

    from orchestrator.task import Problem
    from test_diagnostics import cfg, run_stage, settings, stage

    g = torch.Generator().manual_seed(0)
    x, xv = torch.randn(64, 1, generator=g), 30 * torch.randn(64, 1, generator=g)
    torch.manual_seed(0)
    model = torch.nn.Linear(1, 2)  # a mean and a log-std per input

    def nll(m, xs):
        mu, log_std = m(xs).unbind(-1)
        density = torch.exp(-0.5 * ((xs[:, 0] - mu) / log_std.exp()) ** 2) / log_std.exp()  # no log-space
        return -torch.log(density).mean()

    problem = Problem(model=model, train_size=64, get_batch=lambda idx: x[idx], loss=lambda m, b: nll(m, b),
                      evaluate=lambda m: {"train/nll": nll(m, x).item(), "val/nll": nll(m, xv).item()},
                      chance_loss=math.log(2.0))
    run, _, _ = run_stage(tmp_path, problem, cfg(), st=stage(-10.0, metric="train/nll", mode="min"),
                          s=settings(budget=50, eval_every=25))
    found = [d["code"] for d in run.stage.diagnoses]
    assert "log_of_zero" in found and found.index("log_of_zero") < found.index("nonfinite"), found
    log = next(d for d in run.stage.diagnoses if d["code"] == "log_of_zero")
    assert log["severity"] == "error" and log["evidence"]["op"]["phase"] == "evaluation"
    nonfinite = next(d for d in run.stage.diagnoses if d["code"] == "nonfinite")
    assert "val/nll" in nonfinite["message"] and "op log" in nonfinite["message"]


class ActivePool(torch.nn.Module):
    """A pool over the positive pixels only: a sum divided by an integer count, 0 / 0 on a dead channel."""

    def __init__(self):
        super().__init__()
        self.conv, self.fc = torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Linear(4, 3)
        with torch.no_grad():
            self.conv.bias[0] = -100.0  # channel 0 is dead on every image

    def forward(self, x):
        h = torch.relu(self.conv(x))
        return self.fc(h.sum((2, 3)) / (h > 0).sum((2, 3)))


def test_a_division_by_an_integer_count_of_zero_is_a_division_by_zero():
    x, y = torch.randn(4, 1, 6, 6, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1, 2, 0])
    torch.manual_seed(0)
    t = trace_step(ActivePool(), lambda m, b: F.cross_entropy(m(b[0]), b[1]), (x, y))
    assert t["op"]["op"] == "div" and t["op"]["inputs"][1]["zeros"] > 0 and t["cause"] == "division_by_zero"
