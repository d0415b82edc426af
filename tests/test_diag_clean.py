"""Clean models of four families, trained briefly over three seeds, raise nothing above info from the
data, init, probe, trace and leakage checks (the codes below)."""
from __future__ import annotations

import pytest
import torch

from diag_families import Sinks, FAMILIES

from orchestrator import diagnostics
from orchestrator.config import OptimConfig, RunConfig
from orchestrator.diagnostics.config import DiagnosticsConfig
from orchestrator.ladder import Goal, Stage
from orchestrator.trainer import StageRun, TrainSettings, train

torch.set_num_threads(1)

CODES = {"input_scale", "bad_init_loss", "nonfinite", "unstable_softmax", "division_by_zero", "log_of_zero",
         "lr_too_high", "leakage", "trivial_labels"}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_clean_family_trains_without_a_false_alarm(family, tmp_path):
    c = RunConfig(task=None, diagnostics=DiagnosticsConfig())
    for seed in range(3):
        st = Stage("s", Goal("val/loss", 0.0, "min"), knobs={})
        s = TrainSettings(budget=150, lr=3e-3, batch_size=32, optim=OptimConfig(), seed=seed, eval_every=50,
                          patience=0, histograms_every=0, checkpoint_secs=1e9)
        s.lr = diagnostics.before_stage(c, st, lambda knobs: FAMILIES[family](seed=seed), s, Sinks()) or s.lr
        problem = FAMILIES[family](seed=seed)
        run = StageRun(stage=st, problem=problem, settings=s, sinks=Sinks(), ckpt_dir=tmp_path,
                       monitors=diagnostics.monitors_for(c, st, problem))
        train(run)
        alarms = [(d["code"], d["message"]) for d in st.diagnoses if d["code"] in CODES and d["severity"] != "info"]
        assert alarms == [], (family, seed)
