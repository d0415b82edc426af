"""What TensorBoard serves for a run with inserted stages, read back with its own event readers."""
import re

import pytest
from tensorboard.plugins.hparams import plugin_data_pb2

from conftest import events, ladder_json, toy

HPARAM_METRICS = {"hparam/goal_value", "hparam/goal_met", "hparam/iterations", "hparam/status"}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The toy ladder with a growth rule too tight for `middle`: three stages get inserted, then it stalls."""
    run_dir = tmp_path_factory.mktemp("tb") / "run"
    r = toy("knobs.level.hard=300", "ladder.growth=0.5", "log.console=false", "search.trials=0",
            run_dir=run_dir)  # insertions only: a search would add decisions of its own
    assert r.returncode == 3, r.stderr[-2000:]
    doc = ladder_json(run_dir)
    runs = sorted(p for p in (run_dir / "tb").iterdir() if p.name != "ladder")
    return run_dir, doc, runs


def text(acc, tag) -> list[str]:
    return [e.tensor_proto.string_val[0].decode() for e in acc.Tensors(f"{tag}/text_summary")]


def plugin_data(acc, tag):
    return plugin_data_pb2.HParamsPluginData.FromString(acc.SummaryMetadata(tag).plugin_data.content)


def test_one_run_per_attempt_named_in_ladder_order(run):
    run_dir, doc, runs = run
    judged = [d["stage"] for d in doc["decisions"]]  # one decision per attempt, in run order
    assert any(d["kind"] == "insert" for d in doc["decisions"])
    assert [p.name for p in runs] == [f"{i + 1:02d}_{name}" for i, name in enumerate(judged)]


def test_hparams_has_the_same_metrics_and_a_record_for_every_attempt(run):
    run_dir, doc, runs = run
    statuses = {}
    for path, decision in zip(runs, doc["decisions"]):
        acc = events(path)
        experiment = plugin_data(acc, "_hparams_/experiment").experiment
        assert {m.name.tag for m in experiment.metric_infos} == HPARAM_METRICS  # the same columns everywhere
        hp = plugin_data(acc, "_hparams_/session_start_info").session_start_info.hparams
        assert set(hp) == {"knob/level", "lr", "batch_size"}
        assert hp["lr"].number_value > 0 and hp["batch_size"].number_value >= 1
        values = {tag: acc.Scalars(tag)[-1].value for tag in HPARAM_METRICS}
        assert values["hparam/iterations"] == decision["iterations"] > 0
        assert values["hparam/goal_met"] == (1.0 if decision["kind"] == "advance" else 0.0)
        statuses[decision["kind"]] = values["hparam/status"]
    assert statuses == {"advance": 1.0, "insert": 0.0, "stop": 0.0}


def test_ladder_wide_view_has_cumulative_steps_and_the_goal(run):
    run_dir, doc, runs = run
    trained = 0
    last = -1
    for path, decision in zip(runs, doc["decisions"]):
        acc = events(path)
        steps = [e.step for e in acc.Scalars("ladder/train/loss")]
        assert steps == sorted(steps) and steps[0] > last            # one curve, left to right
        assert trained < steps[0] and steps[-1] <= trained + decision["iterations"]
        goal = acc.Scalars("ladder/train/error/goal")
        assert goal and all(e.value == pytest.approx(0.01) for e in goal)  # the goal as a flat line
        assert [e.step for e in acc.Scalars("ladder/train/error")] == [e.step for e in goal]
        assert "custom_scalars__config__" in acc.Tags()["tensors"]    # the charts that draw them together
        last, trained = steps[-1], trained + decision["iterations"]
    assert last > 3 * doc["decisions"][0]["iterations"]               # well past where a single stage ends


def test_an_evaluation_is_one_event_with_the_training_curve_and_the_last_step_is_written(run):
    """Each event costs the training loop: an evaluation step's values (loss, LR, metrics) share one."""
    from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader

    run_dir, doc, runs = run
    for path, decision in zip(runs, doc["decisions"]):
        per_step: dict = {}
        for f in path.glob("events.out.tfevents.*"):
            for e in LegacyEventFileLoader(str(f)).Load():
                tags = {v.tag for v in e.summary.value} if e.HasField("summary") else set()
                if "train/error" in tags:  # the goal metric: an evaluation
                    per_step.setdefault(e.step, []).append(tags)
        assert per_step and max(per_step) == decision["iterations"]   # the stage's last step is on file
        for step, evaluations in per_step.items():
            assert len(evaluations) == 1, (path.name, step)            # one event per evaluation step...
            assert {"train/loss", "lr", "grad_norm"} <= evaluations[0]  # ... with the training curve in it


def test_held_scalars_keep_their_time_and_reach_disk_before_a_checkpoint(tmp_path):
    """Scalars are written a few seconds' worth at a time (each event wakes the writer's thread): each point
    keeps the wall time it was logged at, and what was logged reaches the file before a mid-stage checkpoint
    (a resumed run does not log those steps again)."""
    import time

    from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader

    from orchestrator.ladder import Goal, Stage
    from orchestrator.tb import TensorBoardSink

    def on_disk():
        return {(v.tag, e.step): e.wall_time for f in (tmp_path / "tb" / "s").glob("events.out.tfevents.*")
                for e in LegacyEventFileLoader(str(f)).Load() if e.HasField("summary") for v in e.summary.value}

    sink, stage = TensorBoardSink(tmp_path / "tb"), Stage("s", Goal("val/acc", 0.9), knobs={})
    sink.stage_started(stage, 0)
    sink.scalars(stage, 10, {"train/loss": 2.0})
    time.sleep(0.3)
    sink.evaluated(stage, 20, {"val/acc": 0.5}, None)
    assert ("train/loss", 10) not in on_disk()  # held: an evaluation a moment later does not write it
    sink.scalars(stage, 30, {"train/loss": 1.0})
    sink.before_checkpoint(stage, 30)
    written = on_disk()
    assert {("train/loss", 10), ("val/acc", 20), ("train/loss", 30)} <= set(written)
    assert written[("val/acc", 20)] - written[("train/loss", 10)] > 0.2  # logged 0.3 s apart, written together
    sink.close()


def test_event_checksums_are_tensorboards_own():
    """orchestrator/crc.py swaps TensorBoard's pure-Python CRC-32C for C: the same value for any record."""
    import random

    from tensorboard.compat.tensorflow_stub import pywrap_tensorflow as stub

    import orchestrator.tb  # noqa: F401 - installs the C checksums
    from orchestrator import crc
    assert crc.install(), "google-crc32c (a dependency) has no C build here"
    rng = random.Random(0)
    for n in list(range(0, 40)) + [rng.randrange(40, 4000) for _ in range(40)]:
        data = bytes(rng.randrange(256) for _ in range(n))
        x = stub.crc32c(data)  # the package's own pure-Python CRC, masked as its writer masks it
        assert stub.masked_crc32c(data) == stub.u32(((x >> 15) | stub.u32(x << 17)) + 0xA282EAD8)


def test_exactly_one_readable_text_entry_per_diagnosis(run):
    run_dir, doc, runs = run
    recorded = sum(len(s["diagnoses"]) for s in doc["stages"])
    shown = []
    for path in runs:
        acc = events(path)
        for tag in acc.Tags()["tensors"]:
            if tag.startswith("diagnoses/"):
                shown += text(acc, tag[:-len("/text_summary")])
    assert recorded > 0 and len(shown) == recorded
    for entry in shown:
        assert re.match(r"^(\*\*ERROR\*\*|\*\*WARNING\*\*|info) `", entry)  # severity first
        assert "\n\n**Fix:** " in entry                                  # the fix on its own line
        for number in re.findall(r"\d+\.\d+", entry):                   # numbers rounded
            assert len(number.replace(".", "").lstrip("0")) <= 4, number
    assert any("| evidence | value |" in entry for entry in shown)
    ladder = events(run_dir / "tb" / "ladder")
    assert len(text(ladder, "decisions")) == len(doc["decisions"])      # one per decision, not cumulative
    assert len(text(ladder, "stages")) == 1


def test_ladder_image_at_each_start_and_decision_fits_a_card(run):
    run_dir, doc, runs = run
    images = events(run_dir / "tb" / "ladder").Images("ladder")
    assert [e.step for e in images] == list(range(1, 2 * len(doc["decisions"]) + 1))
    for e in images:
        assert 250 <= e.width <= 420  # a chain of any length: one narrow column, legible when scaled to ~280 px
        assert e.height <= 100 * len(doc["stages"]) + 80


def test_each_stage_shows_its_training_batch(run):
    run_dir, doc, runs = run
    shown = text(events(runs[0]), "data/training_batch")
    assert len(shown) == 1 and "- `batch`: int64, shape 4, values 0 … 3; first example [0]" in shown[0]
    assert "## The data each stage was fed\n\n### easy\n" in (run_dir / "report.md").read_text()


def test_the_running_stage_is_drawn_highlighted():
    import numpy as np

    from orchestrator.drawing import COLOURS, draw
    from orchestrator.ladder import Goal, Ladder, Stage
    stages = [Stage(f"s{i}", Goal("train/loss", 0.1, "min"), {}, after=[f"s{i - 1}"] if i else []) for i in range(9)]
    stages[0].status, stages[1].status = "converged", "running"
    image = draw(Ladder(stages))
    assert image.shape[1] <= 400 and image.shape[0] > 9 * 60  # long chains grow downwards, never wrap
    yellow = np.array([int(COLOURS["running"][i:i + 2], 16) for i in (1, 3, 5)])
    rows = np.where((np.abs(image.astype(int) - yellow).sum(-1) < 10).any(1))[0]
    assert 84 < rows.min() < rows.max() < 2 * 84 + 12  # the second box, and only it


def test_a_task_can_show_its_batch_as_images(tmp_path):
    import torch

    from orchestrator.config import OptimConfig
    from orchestrator.ladder import Goal, Stage
    from orchestrator.task import Problem
    from orchestrator.tb import TensorBoardSink
    from orchestrator.trainer import TrainSettings
    x = torch.rand(10, 64)
    problem = Problem(model=torch.nn.Linear(64, 2), train_size=10, get_batch=lambda idx: (x[idx], idx % 2),
                      loss=lambda model, batch: model(batch[0]).sum(), evaluate=lambda model: {},
                      show_batch=lambda batch: batch[0].reshape(-1, 8, 8))  # e.g. 8x8 digits
    stage = Stage("digits", Goal("train/loss", 0.1, "min"), knobs={})
    sink = TensorBoardSink(tmp_path)
    sink.stage_started(stage, 0)
    sink.stage_ready(stage, problem, TrainSettings(budget=1, lr=0.1, batch_size=4, optim=OptimConfig(), seed=0))
    sink.close()
    acc = events(tmp_path / "digits")
    image = acc.Images("data/training_batch")[0]
    assert image.width >= 96 * 2 and image.height >= 96  # 4 enlarged 8x8 images in one grid
    assert "4 images" in text(acc, "data/training_batch")[0]


@pytest.mark.parametrize("values", [
    "relu", "wide", "one value", "two values", "one spike",
])
def test_histograms_counted_by_torch_match_tensorboards_own(values):
    """tb.histogram_value (torch.histc) gives the buckets torch.utils.tensorboard's numpy path gives."""
    import torch
    from torch.utils.tensorboard.summary import make_histogram

    from orchestrator.tb import histogram_value
    gen = torch.Generator().manual_seed(0)
    t = {"relu": torch.relu(torch.randn(4096, generator=gen)), "wide": 5 * torch.randn(1000, generator=gen),
         "one value": torch.full((10,), 3.0), "two values": torch.tensor([1.0, 2.0]),
         "one spike": torch.zeros(100).index_fill_(0, torch.tensor([3]), 7.0)}[values]
    ours, theirs = histogram_value("x", t).histo, make_histogram(t.double().numpy(), 64)
    assert (ours.num, ours.min, ours.max) == (theirs.num, theirs.min, theirs.max)
    assert ours.sum == pytest.approx(theirs.sum, rel=1e-9, abs=1e-9)
    assert ours.sum_squares == pytest.approx(theirs.sum_squares, rel=1e-9)
    assert len(ours.bucket) == len(theirs.bucket) and sum(ours.bucket) == sum(theirs.bucket) == t.numel()
    assert list(ours.bucket_limit) == pytest.approx(list(theirs.bucket_limit), rel=1e-9, abs=1e-12)
    # a value on a bin's edge may fall either side of it in float arithmetic: at most one per edge moves
    assert sum(abs(a - b) for a, b in zip(ours.bucket, theirs.bucket)) <= 2 * len(ours.bucket)
