"""Training examples sorted by their target (order.sorted_targets): a regression table sorted before its split."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from orchestrator import diagnostics
from orchestrator.config import OptimConfig, RunConfig
from orchestrator.diagnostics.config import OrderConfig
from orchestrator.diagnostics.order import sorted_targets
from orchestrator.ladder import Goal, Stage
from orchestrator.task import Problem
from orchestrator.trainer import TrainSettings
from test_diag_start import Sinks

torch.set_num_threads(1)


def regression(n: int, seed: int, order: str = "shuffled", classes: int = 0, first: int = 0) -> Problem:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    y = x @ torch.randn(6, generator=g) + 0.1 * torch.randn(n, generator=g)
    if classes:
        y = (y > 0).float() if classes == 2 else torch.bucketize(y, torch.tensor([-1.0, 0.0, 1.0])).float()
    if order != "shuffled":
        keep = y.argsort(descending=order == "descending")
        x, y = x[keep], y[keep]
    x, y = (x[:first], y[:first]) if first else (x, y)  # a stage's subset: the first rows
    n = len(y)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 1))
    return Problem(model=model, train_size=n, get_batch=lambda idx: (x[idx], y[idx]),
                   loss=lambda m, b: ((m(b[0]).squeeze(-1) - b[1]) ** 2).mean(), evaluate=lambda m: {},
                   chance_loss=1.0)


@pytest.mark.parametrize("order", ["ascending", "descending"])
@pytest.mark.parametrize("n", [10, 100, 3000])
def test_a_table_sorted_by_its_target_is_named(order, n):
    d = sorted_targets(OrderConfig(), regression(n, 0, order))
    assert d is not None and d.code == "labels_not_learnable" and d.severity == "warning"
    assert abs(d.evidence["spearman"]) > 0.99 and (d.evidence["spearman"] > 0) == (order == "ascending")


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n", [10, 100, 3000])
def test_shuffled_tables_and_sorted_class_labels_are_not(seed, n):
    assert sorted_targets(OrderConfig(), regression(n, seed)) is None
    # class ids sorted: ties, which a ranking cannot read (and the constant-labels check judges a one-class subset)
    assert sorted_targets(OrderConfig(), regression(n, seed, "ascending", classes=2)) is None
    assert sorted_targets(OrderConfig(), regression(n, seed, "ascending", classes=4)) is None


def test_the_sorted_table_is_said_before_its_scale():
    # the first 10 rows of a sorted table are its smallest targets: the scale check calls them not centred, after
    problem = regression(3000, 0, "ascending", first=10)
    stage = Stage(name="overfit_10", knobs={}, goal=Goal("train/loss", 0.01, "min"), after=[])
    cfg = RunConfig()
    cfg.diagnostics.probe.enabled = False
    settings = TrainSettings(optim=OptimConfig(), lr=1e-3, batch_size=10, seed=0, budget=10)
    diagnostics.before_stage(cfg, stage, lambda knobs: problem, settings, Sinks())
    codes = [d["code"] for d in stage.diagnoses if d["severity"] != "info"]
    assert codes[:2] == ["labels_not_learnable", "input_scale"], codes
