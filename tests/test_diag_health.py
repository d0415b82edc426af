"""Layer health on any architecture: recurrent, attention and convolutional models get statistics,
update ratios and lr_too_low, not only models built from nn.ReLU/Tanh/Sigmoid modules."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from orchestrator.diagnostics.health import HealthMonitor
from test_diag_start import FAMILIES, above_info, blobs, found, gru_problem, run, tuple_problem

torch.set_num_threads(1)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_gets_update_ratios(family):
    r, _ = run(FAMILIES[family](), budget=60)
    h = next(m for m in r.monitors if isinstance(m, HealthMonitor))
    assert len(h.update_ratios) == 2 and all(ratios for _, ratios in h.update_ratios)  # steps 1 and 50


@pytest.mark.parametrize("family", ["gru", "transformer"])
def test_lr_too_low_on_recurrent_and_attention_models(family):
    r, _ = run(FAMILIES[family](), budget=60, lr=1e-9, after_failure=True)
    assert found(r, "lr_too_low")


@pytest.mark.parametrize("family", FAMILIES)
def test_clean_families_stay_quiet_over_a_longer_run(family):
    for seed in range(2):
        r, _ = run(FAMILIES[family](seed=seed), budget=120)
        assert above_info(r) == [], (family, seed)


def test_saturated_gru_hidden_states_are_named():
    problem = gru_problem()
    with torch.no_grad():
        for name, p in problem.model.enc.named_parameters():
            if name.startswith("weight"):
                p.mul_(40.0)  # the encoder's hidden states pinned at +-1
    r, _ = run(problem, budget=5)
    d = found(r, "saturated_units")
    assert d and d[0]["evidence"]["type"] == "GRU" and d[0]["evidence"]["layer"] == "enc"


class Rectifier(nn.Module):
    """A hand-written activation: any module type is watched."""

    def forward(self, x):
        return x.clamp(min=0)


def test_dead_units_of_any_module_type_are_named():
    x, y = blobs()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), Rectifier(), nn.Linear(32, 3))
    with torch.no_grad():
        model[0].bias[:24].fill_(-50.0)  # 24 of 32 units never fire
    r, _ = run(tuple_problem(model, x, y, 3), budget=5)
    d = found(r, "dead_units")
    assert d and d[0]["evidence"]["type"] == "Rectifier" and d[0]["evidence"]["dead_fraction"] > 0.6


def test_dead_channels_in_a_cnn_are_named():
    from test_diag_start import images
    x, y = images()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 64, 4))
    with torch.no_grad():
        model[0].bias[:6].fill_(-100.0)  # 6 of 8 channels never fire
    r, _ = run(tuple_problem(model, x, y, 4), budget=5)
    d = found(r, "dead_units")
    assert d and d[0]["evidence"]["layer"] == "1" and d[0]["evidence"]["units"] == 8


def test_dropout_and_zero_initialised_layers_are_not_dead():
    x, y = blobs()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Dropout(0.9), nn.Linear(32, 3))
    with torch.no_grad():
        model[3].weight.zero_()
        model[3].bias.zero_()
    r, _ = run(tuple_problem(model, x, y, 3), budget=60, batch_size=8)
    assert found(r, "dead_units") == []
