"""The injected-bug suite (benchmarks/bugsuite) stays sound: every bug changes what the model does,
every clean family learns, the expected codes are public codes, and the runner scores what it reads.

The suite itself (about 45 CLI runs) is a benchmark, not a test: benchmarks/bugsuite/run.py.
"""
from __future__ import annotations

import importlib
import json
import math
import sys
from pathlib import Path

import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bugsuite import run as suite  # noqa: E402
from benchmarks.bugsuite.bugs import BUGS, FAMILIES, VOCABULARY  # noqa: E402
from benchmarks.bugsuite.common import evaluating  # noqa: E402

CONF = ROOT / "benchmarks" / "bugsuite" / "conf" / "task"


def family_yaml(family: str) -> dict:
    return yaml.safe_load((CONF / f"{family}.yaml").read_text())


def make_task(family: str, bug: str = "none"):
    module_name, cls = family_yaml(family)["task"]["_target_"].rsplit(".", 1)
    return getattr(importlib.import_module(module_name), cls)(bug=bug)


def flat(x) -> list[torch.Tensor]:
    if isinstance(x, dict):
        return [t for k in sorted(x) for t in flat(x[k])]
    if isinstance(x, (tuple, list)):
        return [t for v in x for t in flat(v)]
    return [x.detach().float()]


def behaviour(task) -> list:
    """What a user could observe on a fixed batch: the batch, the loss, which parameters get a gradient,
    and the eval outputs of the batch and of its first example alone."""
    p = task.build({"subset": 32}, 0)
    batch = p.get_batch(torch.arange(8))
    loss = p.loss(p.model, batch)
    loss.backward()
    learning = sorted(n for n, w in p.model.named_parameters() if w.grad is not None and w.grad.abs().sum() > 0)
    with evaluating(p.model):
        together = p.forward(p.model, batch)
        alone = p.forward(p.model, p.get_batch(torch.arange(1)))
    return [*flat(batch), loss.detach(), learning, together, alone]


def same(a, b) -> bool:
    if isinstance(a, list) or isinstance(b, list):
        return a == b
    if a.shape != b.shape:
        return False
    return bool(torch.equal(torch.isnan(a), torch.isnan(b)) and torch.allclose(
        torch.nan_to_num(a), torch.nan_to_num(b), rtol=1e-4, atol=1e-5))


def test_bug_table_names_only_public_codes_and_covers_every_family():
    assert len(BUGS) >= 20 and len({b.id for b in BUGS}) == len(BUGS)
    for b in BUGS:
        assert b.named and b.named <= VOCABULARY - {"check_skipped", "lr_probe"}, b.id
        assert b.root <= b.named, b.id
    for family in FAMILIES:
        mine = [b for b in BUGS if b.family == family]
        assert len(mine) >= 4, family
        model_bugs = set(importlib.import_module(f"benchmarks.bugsuite.{family}").BUGS) - {"none"}
        assert {b.name for b in mine if not b.overrides} == model_bugs  # no bug without its expected codes


@pytest.mark.parametrize("bug", [b for b in BUGS if not b.overrides], ids=lambda b: b.id)
def test_every_bug_changes_what_the_model_does(bug):
    clean, bugged = behaviour(make_task(bug.family)), behaviour(make_task(bug.family, bug.name))
    assert len(clean) != len(bugged) or not all(same(a, b) for a, b in zip(clean, bugged))


@pytest.mark.parametrize("bug", [b for b in BUGS if b.overrides], ids=lambda b: b.id)
def test_every_hyperparameter_bug_moves_the_lr_far_from_the_ladder_own(bug):
    (override,) = bug.overrides
    key, value = override.split("=")
    assert key == "optim.lr"
    ratio = float(value) / family_yaml(bug.family)["optim"]["lr"]
    assert ratio > 1000 or ratio < 1e-3


def test_unknown_bug_is_one_clear_error():
    with pytest.raises(ValueError, match="unknown bug 'frozen_kon'"):
        make_task("cnn", "frozen_kon")


@pytest.mark.parametrize("family", FAMILIES)
def test_every_clean_family_learns_its_first_stage_in_a_few_hundred_iterations(family):
    cfg = family_yaml(family)
    first = next(iter(cfg["ladder"]["stages"].values()))
    goal = first["goal"]
    torch.manual_seed(0)
    p = make_task(family).build(first["knobs"], 0)
    opt = torch.optim.Adam(p.model.parameters(), lr=cfg["optim"]["lr"])
    met = False
    for it in range(1, 401):
        idx = torch.randint(0, p.train_size, (min(cfg["optim"]["batch_size"], p.train_size),))
        opt.zero_grad()
        p.loss(p.model, p.get_batch(idx)).backward()
        opt.step()
        if it % 25 == 0:
            value = p.evaluate(p.model)[goal["metric"]]
            met = value >= goal["target"] if goal["mode"] == "max" else value <= goal["target"]
            if met:
                break
    assert met, f"{family}: {goal['metric']} = {value:.3f} after {it} iterations"


def test_alarms_are_ordered_by_time_else_by_stage_then_iteration():
    doc = {"stages": [
        {"diagnoses": [{"code": "dead_units", "severity": "warning", "iteration": 40},
                       {"code": "lr_probe", "severity": "info", "iteration": 0},
                       {"code": "check_skipped", "severity": "warning", "iteration": 0},
                       {"code": "input_scale", "severity": "warning", "iteration": 0}]},
        {"diagnoses": [{"code": "params_not_updating", "severity": "error", "iteration": 1}]}]}
    assert [d["code"] for d in suite.ordered_alarms(doc)] == ["input_scale", "dead_units", "params_not_updating"]
    for t, d in zip((0.0, 1.0, 2.0, 3.0, 1.5), [d for s in doc["stages"] for d in s["diagnoses"]]):
        d["time"] = t
    assert [d["code"] for d in suite.ordered_alarms(doc)] == ["dead_units", "params_not_updating", "input_scale"]


def test_the_most_likely_cause_is_read_as_a_code():
    assert suite.cause_code({"cause": {"code": "batch_dependence", "message": "..."}}) == "batch_dependence"
    assert suite.cause_code({"stages": [{"cause": "most likely: lr_too_high (3 probes)"}, {}]}) == "lr_too_high"
    assert suite.cause_code({"stages": [{}]}) is None


def test_runner_runs_a_clean_family_through_the_cli_and_scores_it(tmp_path):
    suite.main(["--only", "mlp", "--bugs", "none", "--seeds", "1", "--jobs", "1", "--runs", str(tmp_path)])
    results = json.loads((tmp_path / "results.json").read_text())
    (only,) = results["runs"]
    assert only["run"] == "mlp/clean@0" and only["rc"] in (0, 3) and not only["crashed"]
    assert only["status"] in ("converged", "stalled") and 0 < only["wall_s"] < 120
    assert results["summary"]["clean_runs"] == 1 and results["summary"]["bugs"] == 0
    assert (tmp_path / "mlp__clean_s0" / "ladder.json").exists()
    assert not math.isnan(results["summary"]["slowest_s"])
