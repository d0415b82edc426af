"""A gradient clip far below the gradients (tightclip.TightClip): said from the stage's first norms."""
from __future__ import annotations

import pytest
import torch

from orchestrator.config import OptimConfig
from test_diag_start import FAMILIES, found, run

torch.set_num_threads(1)


def tight(r):
    return [d for d in found(r, "lr_too_low") if d["evidence"].get("tight_clip")]


@pytest.mark.parametrize("family", FAMILIES)
def test_a_clip_far_below_the_gradients_is_named(family):
    r, _ = run(FAMILIES[family](), budget=40, optim=OptimConfig(clip_norm=1e-4))
    d = tight(r)
    assert d and d[0]["evidence"]["median_norm"] > 30 * 1e-4, [x["message"] for x in r.stage.diagnoses]


@pytest.mark.parametrize("family", FAMILIES)
def test_a_usual_clip_is_not(family):
    for clip in (None, 1.0):
        r, _ = run(FAMILIES[family](), budget=40, optim=OptimConfig(clip_norm=clip))
        assert not tight(r)
