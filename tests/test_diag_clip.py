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


def test_a_clip_far_below_the_gradients_is_raised_for_the_stage_unless_told_not_to():
    # the clip 1e-4 cuts every step ~1000x: raised to the measured norms' median, the MLP trains as unclipped
    from orchestrator.diagnostics.config import DiagnosticsConfig
    for auto in (True, False):
        diag = DiagnosticsConfig()
        diag.spikes.auto_clip = auto
        r, _ = run(FAMILIES["mlp"](), budget=60, optim=OptimConfig(clip_norm=1e-4), diag=diag)
        d = tight(r)
        assert d and bool(d[0]["applied"]) == auto, d
        if auto:
            assert r.clip_norm > 30 * 1e-4 and r.clip_norm <= 2 * d[0]["evidence"]["median_norm"]
        else:
            assert r.clip_norm == 1e-4


@pytest.mark.parametrize("family", FAMILIES)
def test_a_usual_clip_is_not(family):
    for clip in (None, 1.0):
        r, _ = run(FAMILIES[family](), budget=40, optim=OptimConfig(clip_norm=clip))
        assert not tight(r)
