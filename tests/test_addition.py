"""The addition task: its generator (disjoint splits, right sums, fixed widths) and a tiny CLI run."""
from __future__ import annotations

import torch
from conftest import cli, ladder_json

from stages.addition import AdditionTask
from stages.addition.data import EOS, PAD, decode, generate, split_of


def pairs_of(level) -> set[str]:
    return {decode(s) for s in level.src}


def test_splits_are_disjoint_and_sums_right():
    levels = generate(3, {"train": 2000, "valid": 200, "test": 200}, max_digits=4, seed=0)
    seen = {name: pairs_of(level) for name, level in levels.items()}
    assert not seen["train"] & seen["valid"] and not seen["train"] & seen["test"] and not seen["valid"] & seen["test"]
    assert len(levels["train"]) == 2000 and len(levels["valid"]) == 200
    for s, t in zip(levels["valid"].src[:50], levels["valid"].tgt_out[:50]):
        a, b = decode(s).split("+")
        assert len(a) == len(b) == 3                    # operands of exactly `digits` digits
        assert decode(t) == str(int(a) + int(b))
        assert split_of(int(a), int(b)) == "valid"     # the split is a property of the pair, not of the draw


def test_every_level_has_the_hard_ends_widths():
    """Same shapes at every length: one model warm-starts across levels, and batches concatenate."""
    task = AdditionTask(max_digits=5, train_examples=300, valid_examples=30, test_examples=30)
    one, five = task.build({"digits": 1}, 0), task.build({"digits": 5}, 0)
    b1, b5 = one.get_batch(torch.arange(4)), five.get_batch(torch.arange(4))
    assert [t.shape for t in b1] == [t.shape for t in b5] == [(4, 11), (4, 7), (4, 7)]
    # EOS closes every answer and the padding after it is ignored by the loss
    assert all(EOS in row.tolist() for row in b5[2]) and (b1[2] == PAD).any()
    assert one.train_size < 100                         # 1 digit: every pair listed, 80% of them for training
    assert {decode(s) for s in generate(1, {"train": 999, "valid": 999, "test": 999}, 2, 0)["train"].src} \
        == {decode(s) for s in generate(1, {"train": 999, "valid": 999, "test": 999}, 2, 7)["train"].src}


def test_metrics_and_loss_of_fresh_weights():
    task = AdditionTask(max_digits=3, hidden=16, train_examples=200, valid_examples=40, test_examples=40,
                        eval_examples=40)
    problem = task.build({"digits": 3, "subset": 50}, 0)
    assert problem.train_size == 50
    loss = problem.loss(problem.model, problem.get_batch(torch.arange(8)))
    assert abs(loss.item() - problem.chance_loss) < 1.0    # fresh weights guess about uniformly
    with torch.no_grad():
        metrics = problem.evaluate(problem.model.eval())
    assert set(metrics) == set(task.metrics) - {"train/loss"}
    assert 0 <= metrics["val/seq_acc"] <= 0.1 and 0 <= metrics["val/easier_seq_acc"] <= 1
    with torch.no_grad():
        assert "val/easier_seq_acc" not in task.build({"digits": 1}, 0).evaluate(problem.model)  # nothing shorter


def test_digits_beyond_max_digits_is_refused_in_one_line(tmp_path):
    done = cli("+task=addition", "task.max_digits=2", run_dir=tmp_path / "run", timeout=120)
    assert done.returncode == 2
    assert "outside 1 .. task.max_digits=2" in done.stderr and "Traceback" not in done.stderr


def test_tiny_ladder_end_to_end(tmp_path):
    """Two lengths, mixed: the CLI trains the ladder to its goal and records the mix."""
    run = tmp_path / "run"
    done = cli("+task=addition", "task.max_digits=2", "knobs.digits.hard=2", "task.hidden=64",
               "task.train_examples=2000", "task.valid_examples=100", "task.eval_examples=100",
               "~ladder.stages.digits_3", "~ladder.stages.overfit_100",
               "ladder.stages.digits_1.after=[overfit_10]", "ladder.stages.digits_2.mix=0.25",
               "ladder.stages.digits_2.goal.target=0.5", "ladder.eval_every=25", "log.console=false",
               "diagnostics.enabled=false", "threads=1", run_dir=run, timeout=240)
    doc = ladder_json(run)
    assert done.returncode == 0, done.stderr[-2000:]
    stages = {s["name"]: s for s in doc["stages"]}
    assert stages["digits_2"]["status"] == "converged" and stages["digits_2"]["mix"] == 0.25
    assert stages["digits_2"]["best"] >= 0.5
