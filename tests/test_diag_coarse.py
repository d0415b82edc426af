"""Per-position outputs at a coarser resolution than their targets (coarse.coarse_output): stride, then repeat."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from orchestrator.ladder import Goal, Stage
from orchestrator.task import Problem
from test_diag_start import found, run

torch.set_num_threads(1)


class Tagger(nn.Module):
    """Conv1d tagger of 3 classes per sample; `coarse`: the second conv strides 2, the logits are repeated back."""

    def __init__(self, coarse: bool):
        super().__init__()
        self.coarse = coarse
        self.a = nn.Conv1d(1, 16, 5, padding=2)
        self.b = nn.Conv1d(16, 16, 5, padding=2, stride=2 if coarse else 1)
        self.out = nn.Conv1d(16, 3, 1)

    def forward(self, x):  # (B, L) -> (B, 3, L)
        h = self.out(torch.relu(self.b(torch.relu(self.a(x[:, None])))))
        return F.interpolate(h, size=x.shape[-1], mode="nearest") if self.coarse else h


def tagging(seed: int, coarse: bool) -> Problem:
    """Label each sample of a noisy trace: 0 background, 1 inside a short pulse, 2 inside a long one."""
    g = torch.Generator().manual_seed(seed)
    n, length = 200, 40
    y = torch.zeros(n, length, dtype=torch.long)
    for i in range(n):
        for kind, width in ((1, 3), (2, 7)):
            start = int(torch.randint(0, length - width, (1,), generator=g))
            y[i, start:start + width] = kind
    x = y.float() * 0.8 + 0.1 * torch.randn(n, length, generator=g)
    torch.manual_seed(seed)
    model = Tagger(coarse)

    def evaluate(m):
        with torch.no_grad():
            return {"train/acc": float((m(x).argmax(1) == y).float().mean())}

    return Problem(model=model, train_size=n, get_batch=lambda i: (x[i], y[i]),
                   loss=lambda m, b: F.cross_entropy(m(b[0]), b[1]), evaluate=evaluate, chance_loss=math.log(3))


def coarse(r):
    return [d for d in found(r, "loss_floor") if "coarse_dim" in d["evidence"]]


def test_outputs_repeated_from_a_coarser_resolution_are_named():
    r, outcome = run(tagging(0, coarse=True), budget=200, lr=1e-2, batch_size=32, after_failure=True,
                     stage=Stage("s", Goal("train/acc", 0.999, "max"), knobs={}))
    d = coarse(r)
    assert not outcome.converged and d and d[0]["severity"] == "error", [x["message"] for x in r.stage.diagnoses]
    assert d[0]["evidence"]["coarse_dim"] == 2


@pytest.mark.parametrize("seed", range(3))
def test_full_resolution_outputs_are_not(seed):
    r, outcome = run(tagging(seed, coarse=False), budget=200, lr=1e-2, batch_size=32, after_failure=True,
                     stage=Stage("s", Goal("train/acc", 2.0, "max"), knobs={}))
    assert not outcome.converged and not coarse(r), [x["message"] for x in r.stage.diagnoses]


class Segmenter(nn.Module):
    """Conv2d segmenter of 2 classes per pixel of a square image; `coarse`: stride 2, logits upsampled back."""

    def __init__(self, coarse: bool):
        super().__init__()
        self.coarse = coarse
        self.a = nn.Conv2d(1, 16, 3, padding=1, stride=2 if coarse else 1)
        self.out = nn.Conv2d(16, 2, 1)

    def forward(self, x):  # (B, S, S) -> (B, 2, S, S)
        h = self.out(torch.relu(self.a(x[:, None])))
        return F.interpolate(h, size=x.shape[-2:], mode="nearest") if self.coarse else h


def segmentation(seed: int, coarse: bool) -> Problem:
    """Which pixels of a noisy square image lie inside a bright rectangle (odd corners: edges between 2x2 blocks)."""
    g = torch.Generator().manual_seed(seed)
    n, size = 200, 12
    y = torch.zeros(n, size, size, dtype=torch.long)
    for i in range(n):
        r, c = (int(v) for v in torch.randint(0, size - 5, (2,), generator=g) // 2 * 2 + 1)
        y[i, r:r + 5, c:c + 5] = 1
    x = y.float() + 0.1 * torch.randn(n, size, size, generator=g)
    torch.manual_seed(seed)

    def evaluate(m):
        with torch.no_grad():
            return {"train/acc": float((m(x).argmax(1) == y).float().mean())}

    return Problem(model=Segmenter(coarse), train_size=n, get_batch=lambda i: (x[i], y[i]),
                   loss=lambda m, b: F.cross_entropy(m(b[0]), b[1]), evaluate=evaluate, chance_loss=math.log(2))


@pytest.mark.parametrize("coarse_output", [True, False])
def test_a_square_image_segmented_at_half_resolution_is_named(coarse_output):
    """Height and width share a size: the output's dims are paired with the targets' from the end (holdout58's blobs)."""
    r, outcome = run(segmentation(0, coarse_output), budget=150, lr=1e-2, batch_size=32, after_failure=True,
                     stage=Stage("s", Goal("train/acc", 2.0, "max"), knobs={}))
    assert not outcome.converged
    d = coarse(r)
    if coarse_output:
        assert d and d[0]["severity"] == "error" and d[0]["evidence"]["coarse_dim"] in (2, 3), \
            [x["message"] for x in r.stage.diagnoses]
    else:
        assert not d, [x["message"] for x in r.stage.diagnoses]
