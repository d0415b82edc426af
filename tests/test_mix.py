"""`mix:` on a stage: the share of replayed examples in its batches, where they come from, bad values."""
from __future__ import annotations

import torch
from conftest import toy

from orchestrator.ladder import Goal, Ladder, Stage
from orchestrator.mixing import concat, replay_stages, with_replay
from orchestrator.task import Problem
from stages.addition import AdditionTask
from stages.addition.data import decode


def lengths(batch) -> list[int]:
    return [len(decode(s).split("+")[0]) for s in batch[0]]


def test_share_of_easier_examples_matches_mix():
    task = AdditionTask(max_digits=4, train_examples=500, valid_examples=20, test_examples=20)
    hard = task.build({"digits": 4}, 0)
    easier = [task.build({"digits": d}, 0) for d in (1, 2, 3)]
    mixed = with_replay(hard, easier, share=0.3, seed=0)
    g = torch.Generator().manual_seed(1)
    counts = torch.zeros(5)
    for _ in range(100):
        for n in lengths(mixed.get_batch(torch.randperm(hard.train_size, generator=g)[:32])):
            counts[n] += 1
    share = float(counts[1:4].sum() / counts.sum())
    assert abs(share - 0.3) < 0.03                       # 3200 examples: the share holds on average
    per_level = counts[1:4] / counts[1:4].sum()
    assert (per_level - 1 / 3).abs().max() < 0.06        # the earlier lengths are drawn uniformly
    idx = torch.arange(32)
    assert all(torch.equal(a, b) for a, b in zip(mixed.get_batch(idx), mixed.get_batch(idx)))  # resumable


def test_mix_zero_leaves_the_problem_alone():
    task = AdditionTask(max_digits=2, train_examples=100, valid_examples=10, test_examples=10)
    problem = task.build({"digits": 2}, 0)
    assert with_replay(problem, [task.build({"digits": 1}, 0)], share=0.0, seed=0) is problem


def test_batches_of_different_widths_are_replayed_whole():
    """Padding that depends on the level: a share of whole batches comes from the easier problem."""
    def problem(width: int) -> Problem:
        return Problem(model=torch.nn.Linear(1, 1), train_size=1000, loss=lambda m, b: b[0].sum(),
                       get_batch=lambda idx: (torch.zeros(len(idx), width),), evaluate=lambda m: {})
    mixed = with_replay(problem(7), [problem(3)], share=0.25, seed=0)
    widths = [mixed.get_batch(torch.arange(i, i + 16))[0].shape for i in range(400)]
    assert all(w[0] == 16 for w in widths)
    replayed = sum(w[1] == 3 for w in widths) / len(widths)
    assert abs(replayed - 0.25) < 0.07
    assert concat([(torch.zeros(2, 3),), (torch.zeros(1, 4),)]) is None


def stage(name, after=(), mix=0.0, digits=1, metric="val/seq_acc"):
    return Stage(name=name, goal=Goal(metric, 0.9), knobs={"digits": digits}, after=list(after), mix=mix)


def test_replay_walks_back_through_mixed_stages_only():
    ladder = Ladder([stage("overfit", digits=4, metric="train/seq_acc"), stage("d1", ["overfit"]),
                     stage("d2", ["d1"], mix=0.2, digits=2), stage("d3", ["d2"], mix=0.2, digits=3),
                     stage("d4", ["d3"], mix=0.2, digits=4)])
    assert [s.name for s in replay_stages(ladder, ladder["d4"])] == ["d3", "d2", "d1"]
    assert [s.name for s in replay_stages(ladder, ladder["d2"])] == ["d1"]
    new = ladder.insert_between("d3", "d4", "d4.half1", {"digits": 3})   # same knobs as d3: replayed once
    assert new.mix == 0.2 and [s.name for s in replay_stages(ladder, ladder["d4"])] == ["d4.half1", "d2", "d1"]


def test_a_bad_mix_is_refused_in_one_line(tmp_path):
    done = toy("ladder.stages.easy.mix=1.5", run_dir=tmp_path / "run", timeout=60)
    assert done.returncode == 2
    assert "ladder.stages.easy.mix" in done.stderr and "[0, 1)" in done.stderr and "Traceback" not in done.stderr


def test_mix_survives_a_resume():
    """ladder.json keeps each stage's mix: a resumed run replays as the interrupted one did."""
    from orchestrator.record import stage_dict, stage_from_dict

    assert stage_from_dict(stage_dict(stage("d2", ["d1"], mix=0.3, digits=2))).mix == 0.3
