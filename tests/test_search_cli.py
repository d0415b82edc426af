"""A stage whose configured LR is far too low is rescued by a search, through the CLI; and a search
killed mid-way continues where it stopped."""
import os
import signal
import subprocess
import sys
import time

from conftest import ROOT, TESTS, cli, events, ladder_json

# the first stage cannot memorise 10 digits in 200 iterations at LR 1e-5 (it needs ~1100): it is searched.
# (The failure checks, which would only say "the LR is too low" at some cost, are off.)
TOO_LOW = ("+task=digits", "optim.lr=1e-5", "ladder.budget=200", "diagnostics.failure.enabled=false")


def test_a_search_rescues_a_stage_whose_lr_is_far_too_low(run_dir):
    r = cli(*TOO_LOW, "search.trials=3", run_dir=run_dir)
    assert r.returncode == 0, r.stderr[-2000:]
    doc = ladder_json(run_dir)
    assert doc["status"] == "converged"
    kinds = [(d["stage"], d["kind"]) for d in doc["decisions"]]
    assert kinds[:2] == [("overfit_10", "search"), ("overfit_10", "advance")]
    assert "trial" in doc["decisions"][1]["reason"] and "converged" in doc["decisions"][1]["reason"]
    first = doc["stages"][0]
    trials = first["trials"]
    assert [t["number"] for t in trials] == [0, 1, 2]
    assert all(set(t) >= {"params", "status", "iterations", "best", "diagnoses"} for t in trials)
    assert any(t["status"] == "converged" for t in trials)
    # the default space: LR within 10x below the probe's NaN threshold, jointly with the init scale
    threshold = next(d["evidence"]["threshold"] for d in first["diagnoses"] if d["code"] == "lr_probe")
    for t in trials:
        assert threshold / 10 * 0.999 <= t["params"]["optim.lr"] <= threshold * 1.001
        assert 0.5 <= t["params"]["optim.init_scale"] <= 2.0
    # the winner's LR carries forward: far above the configured 1e-5
    assert first["lr"] > 1e-3 and all(s["lr"] == first["lr"] for s in doc["stages"][1:])
    # one TensorBoard run per trial, with the trial's hparams for the HParams dashboard
    for n in range(3):
        acc = events(run_dir / "tb" / "overfit_10" / f"trial_{n:03d}")
        assert "train/acc" in acc.Tags()["scalars"]
        assert any(tag.startswith("_hparams_/") for tag in acc.summary_metadata)
    assert "## Search trials (overfit_10)" in (run_dir / "report.md").read_text()
    assert "search overfit_10" in r.stdout


def test_a_search_killed_midway_continues_without_running_finished_trials_again(run_dir):
    args = [sys.executable, "-m", "orchestrator", *TOO_LOW, "search.trials=4", "search.prune=false",
            f"hydra.run.dir={run_dir}"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT)])}
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    before = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            before = ladder_json(run_dir)["stages"][0].get("trials") or []
        except (OSError, ValueError, KeyError, IndexError):
            before = []
        if before:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 1 <= len(before) < 4, "the search was not killed mid-way"
    r = cli(*TOO_LOW, "search.trials=4", "search.prune=false", run_dir=run_dir)
    assert r.returncode == 0, r.stderr[-2000:]
    after = ladder_json(run_dir)["stages"][0]["trials"]
    assert len(after) == 4  # 4 finished trials in all, whatever the kill interrupted ran again
    kept = {t["number"]: t["params"] for t in after}
    assert all(kept.get(t["number"]) == t["params"] for t in before)  # finished trials were not run again
    assert len({tuple(sorted(p.items())) for p in kept.values()}) == 4  # and no setting was tried twice
    assert ladder_json(run_dir)["status"] == "converged"
    decisions = [d["kind"] for d in ladder_json(run_dir)["decisions"]]
    assert decisions.count("search") == 1
