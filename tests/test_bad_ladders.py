"""Bad ladders fail before any training: exit code 2, one line naming where the value came from and the key.

A value typed on the command line is blamed on the command line; tests/test_reliability_corpus.py
holds the same mistakes written in task files."""
import pytest

from conftest import TESTS, cli, toy

CASES = [
    ("ladder.stages.middle.after=[nope]", "ladder.stages.middle.after: unknown predecessor 'nope'"),
    ("ladder.stages.easy.after=[hard]", "ladder.stages: the stages form a cycle: easy -> middle -> hard -> easy"),
    ("+ladder.stages.easy.knobs.speed=3", "ladder.stages.easy.knobs.speed: unknown knob 'speed'"),
    ("ladder.stages.easy.goal.metric=val/nope", "ladder.stages.easy.goal.metric: unknown metric 'val/nope'"),
    ("ladder.stages.easy.goal.mode=up", "ladder.stages.easy.goal.mode: 'up' is neither 'min' nor 'max'"),
    ("ladder.stages.easy.budget=0", "ladder.stages.easy.budget: budget must be > 0, got 0"),
    ("ladder.budget=-5", "ladder.budget: must be > 0, got -5"),
    ("task._target_=nope.Task", "task._target_: cannot build 'nope.Task': No module named 'nope'"),
    ("knobs.level.scale=cubic", "knobs.level.scale: unknown scale 'cubic'"),
    ("ladder.stages.middle.init_from=hard", "ladder.stages.middle.init_from: 'hard' does not run before 'middle'"),
]


@pytest.mark.parametrize("override,message", CASES, ids=[c[0] for c in CASES])
def test_bad_ladder_is_one_line_and_exit_code_2(override, message, run_dir):
    r = toy(override, run_dir=run_dir)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: command line: {message}"), r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert not run_dir.exists()  # nothing written, not even an empty run directory


def test_a_ladder_with_no_stage(run_dir):
    r = cli("--config-dir", str(TESTS / "conf"), "+task=no_stages", run_dir=run_dir)
    assert r.returncode == 2
    path = TESTS / "conf" / "task" / "no_stages.yaml"
    assert r.stderr.strip() == f"error: {path}: ladder.stages: the ladder has no stage"


def test_no_task_chosen(run_dir):
    r = cli(run_dir=run_dir)
    assert r.returncode == 2 and "add +task=NAME" in r.stderr and "Traceback" not in r.stderr
