"""Two SIGKILLs inside one stage, then a resume: the same result as a run never interrupted, bit for bit.

The noisy task (tests/faulty_task.py) draws on the RNG every step (dropout, batch order), and its
gradient spikes make the diagnostics switch clipping on near iteration 55, so any state a checkpoint
misses (the RNG, the sampler, the spike check's history) shows up in the final weights. It kills
itself at exact batches, chosen at random (fixed seed) inside its long stage, half of them early.
"""
import random
from concurrent.futures import ThreadPoolExecutor

import torch

from conftest import TESTS, cli, ladder_json, stage_run
from test_resume import raw_steps

TRIALS = 2  # one early, one late, side by side: each trial is three CLI runs of a 600-iteration stage
BUDGET, EVAL_EVERY = 600, 20  # the long stage's, from tests/conf/task/noisy.yaml


def noisy(run_dir, *args):
    return cli("--config-dir", str(TESTS / "conf"), "+task=noisy", *args, run_dir=run_dir)


def result(run_dir):
    stages = [(s["name"], s["status"], s["iterations"], s["best"], s["lr"], [(d["code"], d["iteration"]) for d in s["diagnoses"]])
              for s in ladder_json(run_dir)["stages"]]
    weights = torch.load(run_dir / "checkpoints" / "large" / "final.pt", weights_only=True)["model"]
    return stages, weights


def killed_twice(run_dir, first: int, second: int):
    for after in (first, second):
        r = noisy(run_dir, "+task.kill_size=256", f"+task.kill_after={after}")
        assert r.returncode == -9, f"not killed at batch {after}: {r.returncode} {r.stderr[-500:]}"
    r = noisy(run_dir)
    assert r.returncode == 3, r.stderr[-2000:]  # stalled: the long stage cannot meet its goal, by design
    return result(run_dir)


def test_two_kills_in_one_stage_resume_bit_identical(tmp_path):
    clean = tmp_path / "clean"
    assert noisy(clean).returncode == 3
    expected_stages, expected_weights = result(clean)
    rng = random.Random(0)
    points = []
    for trial in range(TRIALS):
        # half the trials early, around iteration 55 where the spike check switches clipping on
        first = rng.randrange(25, 100) if trial % 2 == 0 else rng.randrange(30, BUDGET - 60)
        resumed_at = (first - 1) // EVAL_EVERY * EVAL_EVERY  # the last checkpoint before the first kill
        points.append((first, rng.randrange(5, 60 if trial % 2 == 0 else BUDGET - resumed_at - 10)))
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda i: killed_twice(tmp_path / f"trial{i}", *points[i]), range(TRIALS)))
    differ = [points[i] for i, (stages, weights) in enumerate(results)
              if stages != expected_stages or any(not torch.equal(weights[k], expected_weights[k]) for k in weights)]
    assert not differ, f"{len(differ)} of {TRIALS} twice-killed runs differ; kill points {differ}"
    # each (tag, step) of the killed stage is in its event files once
    for i in range(TRIALS):
        written = raw_steps(stage_run(tmp_path / f"trial{i}", "large"))
        assert len(written) == len(set(written)), f"trial {i}: a (tag, step) written twice"


def test_a_kill_before_the_first_checkpoint_keeps_the_probe_plots_once(tmp_path):
    """Killed at its first evaluation (no last.pt yet): the stage restarts from 0 without probing again,
    and its event files hold what a run never interrupted holds, each (tag, step) once."""
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    assert noisy(clean, "ladder.stages.large.budget=40").returncode == 3
    r = noisy(killed, "ladder.stages.large.budget=40", "+task.kill_size=16", "+task.kill_at_eval=1")
    assert r.returncode == -9
    assert noisy(killed, "ladder.stages.large.budget=40").returncode == 3
    for run in ("01_small", "ladder"):
        written = raw_steps(killed / "tb" / run)
        assert len(written) == len(set(written)), f"{run}: a (tag, step) written twice"
        assert sorted(written) == sorted(raw_steps(clean / "tb" / run)), run
    assert any(tag.startswith("probe/") for tag, _ in raw_steps(stage_run(killed, "small")))
