"""NaN must never crash a run: the three crash kinds end with exit 3 (stalled) and the right diagnosis.

A user's classifier (tests/nan_task.py, tests/conf/task/nanbug.yaml) gets its NaN bug from a task argument.
"""
from __future__ import annotations

import math

import torch

from conftest import TESTS, cli, events, ladder_json

from orchestrator.ladder import Goal, Ladder, Stage
from orchestrator.tables import diagnoses_markdown, stages_markdown


def nanbug(*args, run_dir):
    return cli("--config-dir", str(TESTS / "conf"), "+task=nanbug", *args, run_dir=run_dir)


def diagnoses(run_dir):
    return [d for s in ladder_json(run_dir)["stages"] for d in s["diagnoses"]]


def test_nan_in_activations_at_the_first_step_is_no_lr_problem(tmp_path):
    r = nanbug("task.bug=sqrt_act", run_dir=tmp_path)
    assert r.returncode == 3, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    found = diagnoses(tmp_path)
    first = next(d for d in found if d["severity"] != "info")
    assert first["code"] == "nonfinite" and first["severity"] == "error" and first["evidence"]["before_update"]
    assert first["evidence"]["trace"]["op"]["op"] == "sqrt"
    assert "lr_too_high" not in {d["code"] for d in found}
    # the LR was neither blamed nor lowered: the probe stood down and no recovery divided it
    assert any(d["code"] == "lr_probe" and d["evidence"].get("skipped") for d in found)
    assert ladder_json(tmp_path)["stages"][0]["lr"] == 0.01
    doc = ladder_json(tmp_path)
    assert doc["status"] == "stalled" and doc["cause"]["code"] == "nonfinite"
    assert "Most likely cause (`fit`)" in (tmp_path / "report.md").read_text()
    assert "Most likely cause (fit): error nonfinite" in r.stdout  # the console's final summary
    texts = events(tmp_path / "tb" / "ladder").Tensors("diagnoses/text_summary")
    assert "Most likely cause" in texts[-1].tensor_proto.string_val[0].decode()  # and TensorBoard


def test_nan_before_any_update_ends_the_stage_once_the_weights_are_nan(tmp_path):
    # a goal on accuracy stays finite while every loss is NaN: the stage used to train its whole budget (holdout34's
    # NaN-at-init bugs: 525 NaN iterations to a plateau). It ends once the updates have made the weights NaN
    goal = ("ladder.stages.fit.goal.metric=train/acc", "ladder.stages.fit.goal.target=1.0",
            "ladder.stages.fit.goal.mode=max", "ladder.budget=500")
    r = nanbug("task.bug=sqrt_act", *goal, run_dir=tmp_path)
    assert r.returncode == 3, r.stderr[-2000:]
    doc = ladder_json(tmp_path)
    assert doc["stages"][0]["iterations"] <= 50 and "the weights are NaN/inf" in doc["decisions"][0]["reason"]
    assert "non-finite since iteration 1 " in doc["decisions"][0]["reason"]
    assert doc["cause"]["code"] == "nonfinite"
    # the failure checks do not say it again for one example alone ("the stage's batches hide it": they did not)
    assert not any(d["evidence"].get("one_example") for d in diagnoses(tmp_path))
    clean = tmp_path / "clean"  # a clean model with the same goal trains on
    assert nanbug(*goal, run_dir=clean).returncode == 0


def test_nan_at_a_later_health_sample_stalls_cleanly(tmp_path):
    # NaN activations from forward 41 on; health samples every 20 steps see them (no evaluation until 100)
    r = nanbug("task.bug=later", "task.at=40", "ladder.eval_every=100", run_dir=tmp_path)
    assert r.returncode == 3, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    found = diagnoses(tmp_path)
    assert any(d["code"] == "nonfinite" and d["iteration"] > 40 for d in found)
    assert ladder_json(tmp_path)["cause"]["code"] == "nonfinite"


def test_nan_in_the_weights_reaches_the_histograms_without_a_crash(tmp_path):
    r = nanbug("task.bug=weights", "task.at=40", run_dir=tmp_path)
    assert r.returncode == 3, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    nonfinite = [d for d in diagnoses(tmp_path) if d["code"] == "nonfinite"]
    assert nonfinite and "l1.weight" in nonfinite[0]["evidence"]["trace"]["nonfinite_parameters"]
    assert ladder_json(tmp_path)["cause"]["code"] == "nonfinite"


def test_tables_and_drawing_take_nan_metrics():
    s = Stage("a", Goal("val/loss", 0.1, "min"), knobs={"n": float("nan")})
    s.best, s.status, s.lr_used = float("nan"), "failed", float("inf")
    s.diagnoses = [{"code": "nonfinite", "severity": "error", "message": "m", "iteration": 3, "fix": "f",
                    "evidence": {"loss": "nan"}, "time": 1.0}]
    ladder = Ladder([s])
    assert "nan" in stages_markdown(ladder) and "Most likely cause (`a`)" in diagnoses_markdown(ladder)
    from orchestrator.drawing import draw
    assert draw(ladder).shape[-1] == 3


def test_histograms_drop_non_finite_values_and_count_them(tmp_path):
    from orchestrator.tb import TensorBoardSink
    s = Stage("a", Goal("val/loss", 0.1, "min"), knobs={})
    sink = TensorBoardSink(tmp_path)
    sink.stage_started(s, 0)
    sink.histogram(s, 1, "activations/x", torch.tensor([1.0, float("nan"), float("inf"), 2.0]))
    sink.histogram(s, 2, "activations/x", torch.full((4,), float("nan")))
    model = torch.nn.Linear(2, 2)
    with torch.no_grad():
        model.weight.fill_(math.nan)
    sink.histograms(s, 3, model)
    sink.close()
    acc = events(tmp_path / "a")
    counts = {e.step: e.value for e in acc.Scalars("activations/x/nonfinite")}
    assert counts == {1: 2.0, 2: 4.0}
    # the finite values, readable as TensorBoard's histograms (in the event of the step's scalars)
    (h,) = acc.Histograms("z_histograms/activations/x")
    assert (h.step, h.histogram_value.num, h.histogram_value.min, h.histogram_value.max) == (1, 2, 1.0, 2.0)
    assert [e.step for e in acc.Scalars("weights/weight/nonfinite")] == [3]


def test_a_nan_in_one_training_batch_is_the_data_and_keeps_the_lr(tmp_path):
    from diag_families import mlp_problem
    from orchestrator import diagnostics
    from orchestrator.config import OptimConfig, RunConfig
    from orchestrator.diagnostics.config import DiagnosticsConfig
    from orchestrator.ladder import Goal, Stage
    from orchestrator.trainer import StageRun, TrainSettings, train

    class Sinks:
        def __getattr__(self, name):
            if name.startswith("__"):
                raise AttributeError(name)
            return lambda *a, **k: None

    problem = mlp_problem()
    problem.extras["x_train"][37, 2] = float("nan")  # get_batch reads the same tensor
    c, st = RunConfig(task=None, diagnostics=DiagnosticsConfig()), Stage("s", Goal("val/acc", 2.0), knobs={})
    s = TrainSettings(budget=100, lr=3e-3, batch_size=16, optim=OptimConfig(), seed=0, eval_every=50, patience=0,
                      histograms_every=0, checkpoint_secs=1e9)
    run = StageRun(stage=st, problem=problem, settings=s, sinks=Sinks(), ckpt_dir=tmp_path,
                   monitors=diagnostics.monitors_for(c, st, problem))
    train(run)
    bad = [x for x in st.diagnoses if x["code"] == "nonfinite"]
    assert len(bad) == 1 and bad[0]["severity"] == "error" and bad[0]["evidence"]["what"] == "batch"
    assert run.lr == 3e-3  # no LR made it, so none was lowered


def test_the_task_raising_is_named_without_a_traceback(tmp_path):
    r = nanbug("task.bug=raises", "task.at=30", run_dir=tmp_path)
    assert r.returncode == 3, r.stderr[-2000:]
    assert "Traceback" not in r.stderr and "unexpected" not in r.stderr
    assert "nan_task.py" in r.stderr and "view" in (tmp_path / "crash.log").read_text()
    d = next(d for d in diagnoses(tmp_path) if d["code"] == "task_error")
    assert d["severity"] == "error" and d["evidence"]["file"].endswith("nan_task.py")
    assert "view" in d["evidence"]["code"] and "RuntimeError" in d["message"]
    assert 0 < d["iteration"] < 100  # the iteration it raised at, not 0 (the probe and the checks ran before)
    assert ladder_json(tmp_path)["status"] == "running"  # fixed, the same command resumes
