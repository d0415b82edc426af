"""Steps too large to settle (settle.steps_too_large): the failed stage, continued at a tenth of its LR (or on larger
batches), passes its best."""
from __future__ import annotations

import torch
from torch import nn

from orchestrator.diagnostics import settle
from orchestrator.diagnostics.config import FailureConfig
from orchestrator.diagnostics.failure import Context
from orchestrator.ladder import Goal, Stage
from test_diag_start import run, tuple_problem

torch.set_num_threads(1)


def teacher(seed: int, n: int = 256):
    """Four classes drawn by a fixed random network: learnable, with boundaries that take fine steps to fit."""
    g = torch.Generator().manual_seed(100 + seed)
    x = torch.randn(n, 8, generator=g)
    y = (torch.tanh(x @ torch.randn(8, 16, generator=g)) @ torch.randn(16, 4, generator=g)).argmax(1)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 4))
    return tuple_problem(model, x, y, 4)


def judged(seed: int, lr: float, batch_size: int, budget: int):
    r, outcome = run(teacher(seed), budget=budget, lr=lr, batch_size=batch_size,
                     stage=Stage("s", Goal("train/acc", 1.0, "max"), knobs={}))
    assert not outcome.converged
    # (400 steps: at batch size 2 that is 3 passes over the 256 examples; the default 200 judges bigger batches)
    return settle.steps_too_large(Context(FailureConfig(settle_iterations=400), r, outcome, None, None))


def test_an_lr_too_large_for_batches_of_two_is_named_and_the_batch_blamed():
    """Adam at 0.01 on batches of 2 keeps bouncing below its goal. Continued from where it ended, a tenth of the LR
    settles past its best, and so does the LR itself on batches of 16: the steps are noisy, the batch too small."""
    found = [judged(seed, 0.01, 2, 400) for seed in range(4)]
    fired = [d for d in found if d is not None]
    assert len(fired) >= 3, found  # all 4 seeds here
    for d in fired:
        assert d.code == "lr_too_high" and d.evidence["settles_lower"] and d.evidence["batch_noise"]
        assert d.evidence["larger_batch"] == 16 and d.evidence["at_batch"] > d.evidence["best"] + 0.02
        assert "batch size too small" in d.message


def test_a_stage_still_on_its_way_up_is_not():
    """A good LR that ran out of budget: the LR itself gains as much as a tenth of it."""
    assert [judged(seed, 3e-3, 16, 60) for seed in range(4)] == [None] * 4
