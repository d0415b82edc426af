"""A damaged run directory, a crash, a second run, a full disk: one line each, and a run that can go on.

Real runs of the toy task through the CLI; the state is damaged the way a crash or a user would.
"""
import errno
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import ROOT, TESTS, ladder_json, toy

QUICK = ["knobs.level.hard=300", "log.console=false"]  # converges without insertion: easy, middle, hard


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished run, copied by each test that damages it."""
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    r = toy(*QUICK, run_dir=run_dir)
    assert r.returncode == 0, r.stderr
    return run_dir


def copy_of(run_dir, to):
    import shutil
    shutil.copytree(run_dir, to)
    return to


def set_stage(run_dir, name, **fields):
    doc = ladder_json(run_dir)
    doc["status"] = "running"
    for s in doc["stages"]:
        if s["name"] == name:
            s.update(fields)
    (run_dir / "ladder.json").write_text(json.dumps(doc))


def one_line(r) -> str:
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr + r.stdout, r.stderr
    return lines[0]


def test_a_truncated_last_pt_restarts_its_stage_with_a_note(finished, tmp_path):
    run_dir = copy_of(finished, tmp_path / "run")
    set_stage(run_dir, "hard", status="running")
    final = (run_dir / "checkpoints" / "hard" / "final.pt").read_bytes()
    (run_dir / "checkpoints" / "hard" / "last.pt").write_bytes(final[: len(final) // 3])
    r = toy(*QUICK, run_dir=run_dir)
    assert r.returncode == 0, r.stderr
    note = one_line(r)
    assert note.startswith("note: ") and "last.pt" in note and "restarting" in note
    # restarted from scratch with the same seed: the result of the run never damaged
    assert [(s["iterations"], s["best"]) for s in ladder_json(run_dir)["stages"]] == \
           [(s["iterations"], s["best"]) for s in ladder_json(finished)["stages"]]


class Payload:
    def __reduce__(self):
        return (os.system, (f"touch {ROOT / 'tests' / 'PWNED'}",))


def test_a_pickle_payload_in_last_pt_is_never_unpickled(finished, tmp_path):
    run_dir = copy_of(finished, tmp_path / "run")
    set_stage(run_dir, "hard", status="running")
    torch.save({"model": Payload()}, run_dir / "checkpoints" / "hard" / "last.pt")
    r = toy(*QUICK, run_dir=run_dir)
    assert r.returncode == 0, r.stderr
    assert not (ROOT / "tests" / "PWNED").exists()
    note = one_line(r)
    assert "refused, never unpickled" in note and "weights_only=False" not in note


def test_a_missing_final_pt_needed_for_a_warm_start_is_named(finished, tmp_path):
    run_dir = copy_of(finished, tmp_path / "run")
    set_stage(run_dir, "hard", status="pending")
    (run_dir / "checkpoints" / "middle" / "final.pt").unlink()
    before = (run_dir / "ladder.json").read_bytes()
    r = toy(*QUICK, run_dir=run_dir)
    assert r.returncode == 2
    line = one_line(r)
    assert line.startswith(f"error: {run_dir / 'checkpoints' / 'middle' / 'final.pt'}: missing")
    assert "'hard' warm-starts from it" in line
    assert json.loads((run_dir / "ladder.json").read_bytes())["stages"] == json.loads(before)["stages"]


def test_the_task_raising_leaves_ladder_json_current_names_the_line_and_resumes(tmp_path):
    run_dir = tmp_path / "run"
    crash = ["task._target_=faulty_task.CrashingTask", "+task.crash_level=100"]
    r = toy(*QUICK, *crash, run_dir=run_dir)
    assert r.returncode == 3  # the user's bug, named (as for a ladder that stalls on one), not a crash
    line = one_line(r)
    assert "RuntimeError" in line and "a bug in the task's evaluate" in line and "faulty_task.py" in line
    assert str(run_dir / "crash.log") in line and "Traceback" in (run_dir / "crash.log").read_text()
    doc = ladder_json(run_dir)
    assert doc["status"] == "running"  # so that it resumes
    assert [s["status"] for s in doc["stages"]] == ["converged", "running", "pending"]
    assert any(d["code"] == "lr_probe" for d in doc["stages"][0]["diagnoses"])  # what it found so far
    d = next(d for d in doc["stages"][1]["diagnoses"] if d["code"] == "task_error")
    assert d["severity"] == "error" and d["evidence"]["file"].endswith("faulty_task.py")
    # fixed, the same run directory resumes and finishes
    r = toy(*QUICK, "task._target_=faulty_task.CrashingTask", "+task.crash_level=100", "+task.crash_at=1000000",
            run_dir=run_dir)
    assert r.returncode == 0, r.stderr
    assert ladder_json(run_dir)["status"] == "converged"


def test_a_second_run_in_the_same_directory_is_refused_and_a_killed_holder_does_not_block(tmp_path):
    run_dir = tmp_path / "run"
    long = ["knobs.level.hard=8000", "ladder.stages.hard.budget=16000", "log.console=false"]  # hard: ~9000 steps
    env = {"PYTHONPATH": f"{TESTS}:{ROOT}", "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "orchestrator", "--config-dir", str(TESTS / "conf"), "+task=toy", *long,
           f"hydra.run.dir={run_dir}"]
    holder = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while not (run_dir / "ladder.json").exists() and time.time() < deadline:
            time.sleep(0.05)
        assert holder.poll() is None, "the first run ended too soon"
        r = toy(*long, run_dir=run_dir)
        assert r.returncode == 4
        line = one_line(r)
        assert line.startswith(f"error: {run_dir}: another run (pid {holder.pid} on host ")
        assert holder.poll() is None  # refused while the holder still trains (not after it), which goes on
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # the OS dropped the dead holder's lock: the same command resumes (and finishes the stage)
    r = toy(*long, run_dir=run_dir)
    assert r.returncode in (0, 3), r.stderr


def test_lock_is_refused_in_process_and_released(tmp_path):
    from orchestrator.errors import RunBusyError
    from orchestrator.lock import RunLock

    first = RunLock(tmp_path).acquire()
    with pytest.raises(RunBusyError, match=f"pid {os.getpid()} on host"):
        RunLock(tmp_path).acquire()
    first.release()
    RunLock(tmp_path).acquire().release()


def test_a_full_disk_is_one_line_leaves_no_tmp_file_and_the_old_file(tmp_path, monkeypatch):
    from orchestrator import files
    from orchestrator.errors import DiskFullError

    target = tmp_path / "ladder.json"
    target.write_text("old")
    real_open = open

    def full_disk_open(path, mode="r", *a, **kw):
        f = real_open(path, mode, *a, **kw)
        if "w" in mode and str(path).endswith(".tmp"):
            f.close()
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return f

    monkeypatch.setattr("builtins.open", full_disk_open)
    with pytest.raises(DiskFullError) as e:
        files.write_text(target, "new")
    assert e.value.line() == f"cannot write {target}: the disk is full"
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["ladder.json"]


def test_paths_stay_inside_the_run_directory(tmp_path):
    from orchestrator.errors import RunStateError
    from orchestrator.files import inside
    from orchestrator.ladder import valid_name

    assert inside(tmp_path, "checkpoints", "hard.half1") == (tmp_path / "checkpoints" / "hard.half1").resolve()
    for bad in ("../../x", "../..", "a/../../../x", "/etc"):
        with pytest.raises(RunStateError, match="outside the run directory"):
            inside(tmp_path, "checkpoints", bad)
    assert all(valid_name(n) for n in ("easy", "hard.half1", "hard.half1.half2", "a-b_c9"))
    assert not any(valid_name(n) for n in ("..", "../x", "a/b", "a\\b", ".hidden", "a..b", "a.", "x@2", "", "a b",
                                           "é" * 2, "a" * 101, 3))


def test_a_really_full_disk_then_freed_space_resumes_to_the_same_result(finished, tmp_path):
    """A 1 MiB tmpfs, filled to its last 32 KiB: the run stops in one line; freed, it resumes to the same end."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root); test_a_full_disk_is_one_line covers the helper")
    try:
        filler = disk / "filler"
        filler.write_bytes(b"\0" * (1024 - 32) * 1024)
        run_dir = disk / "run"
        r = toy(*QUICK, run_dir=run_dir)
        assert r.returncode == 1
        line = one_line(r)
        assert line.startswith("error: cannot write ") and "the disk is full" in line
        assert not list(run_dir.rglob("*.tmp"))
        json.loads((run_dir / "ladder.json").read_text())  # still a valid state
        filler.unlink()
        r = toy(*QUICK, run_dir=run_dir)
        assert r.returncode == 0, r.stderr
        assert [(s["iterations"], s["best"]) for s in ladder_json(run_dir)["stages"]] == \
               [(s["iterations"], s["best"]) for s in ladder_json(finished)["stages"]]
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_a_device_mismatch_in_the_tasks_code_says_where_its_data_belongs():
    from orchestrator.taskerror import hint
    e = RuntimeError("Expected all tensors to be on the same device, but got mat1 is on cpu, different from other "
                     "tensors on cuda:0 (when checking argument in method wrapper_CUDA_addmm)")
    assert "next(model.parameters()).device" in hint(e) and "validation" in hint(e)
    assert hint(ValueError("shapes (3,) and (4,) do not match")) == ""
