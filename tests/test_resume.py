"""A run killed with SIGKILL mid-stage resumes: nothing converged is retrained, nothing is lost."""
import signal
import subprocess
import sys
import time

from conftest import TESTS, ROOT, events, ladder_json, stage_run, toy

# the last stage is long enough to be killed in the middle of
LONG = ["knobs.level.hard=5000", "ladder.stages.hard.budget=10000", "ladder.eval_every=100",
        "log.checkpoint_secs=0", "seed=3"]


def test_killed_run_resumes_where_it_stopped(tmp_path):
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    cmd = [sys.executable, "-m", "orchestrator", "--config-dir", str(TESTS / "conf"), "+task=toy", *LONG,
           f"hydra.run.dir={killed}"]
    env = {"PYTHONPATH": f"{TESTS}:{ROOT}", "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = killed / "checkpoints" / "hard" / "last.pt"
    deadline = time.time() + 120
    while not last.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.5)
    assert proc.poll() is None, "the run ended before it could be killed mid-stage"
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    before = ladder_json(killed)
    assert before["status"] == "running"
    assert [s["status"] for s in before["stages"]] == ["converged", "converged", "running"]
    done_files = {p: p.stat().st_mtime_ns for p in stage_run(killed, "easy").iterdir()}
    final_easy = (killed / "checkpoints" / "easy" / "final.pt").stat().st_mtime_ns

    # resume: the same command, the same run directory
    r = toy(*LONG, run_dir=killed)
    assert r.returncode == 0, r.stderr
    after = ladder_json(killed)
    assert after["status"] == "converged"
    assert {p: p.stat().st_mtime_ns for p in stage_run(killed, "easy").iterdir()} == done_files  # not retrained
    assert (killed / "checkpoints" / "easy" / "final.pt").stat().st_mtime_ns == final_easy
    assert [d["stage"] for d in after["decisions"]] == ["easy", "middle", "hard"]

    # the resumed stage continued from its checkpoint: the same result as a run never interrupted
    assert toy(*LONG, run_dir=clean).returncode == 0
    uninterrupted = ladder_json(clean)
    assert [(s["iterations"], s["best"]) for s in after["stages"]] == \
           [(s["iterations"], s["best"]) for s in uninterrupted["stages"]]

    # each step is in the event files once (those the killed run wrote past its checkpoint are gone)
    for tag in ("train/error", "train/loss"):
        steps = [e.step for e in events(stage_run(killed, "hard")).Scalars(tag)]
        assert steps == sorted(set(steps))
        assert steps == [e.step for e in events(stage_run(clean, "hard")).Scalars(tag)]
    for run in ("03_hard", "ladder"):
        written = raw_steps(killed / "tb" / run)
        assert written and len(written) == len(set(written)), f"{run}: a (tag, step) written twice"
        assert sorted(written) == sorted(raw_steps(clean / "tb" / run))


def raw_steps(path):
    """(tag, step) of every summary value in every event file of a run, read without TensorBoard's purging."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    return [(v.tag, e.step) for f in sorted(path.glob("events.out.tfevents.*"))
            for e in EventFileLoader(str(f)).Load() if e.HasField("summary") for v in e.summary.value]


def test_finished_run_is_not_trained_again(run_dir):
    assert toy(run_dir=run_dir).returncode == 0
    stamp = (run_dir / "ladder.json").stat().st_mtime_ns
    r = toy(run_dir=run_dir)
    assert r.returncode == 0 and (run_dir / "ladder.json").stat().st_mtime_ns == stamp
