"""Shared helpers: run the CLI as a user would, read back what a run leaves behind."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))  # the toy task is a "user's own" module, importable like theirs


def cli(*args: str, run_dir: Path | None = None, timeout: float = 300, **popen) -> subprocess.CompletedProcess:
    """python -m orchestrator ARGS, with the test folder importable (for the toy task)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT)])}
    cmd = [sys.executable, "-m", "orchestrator", *args]
    if run_dir is not None:
        cmd.append(f"hydra.run.dir={run_dir}")
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, **popen)


def toy(*args: str, run_dir: Path, **kw) -> subprocess.CompletedProcess:
    return cli("--config-dir", str(TESTS / "conf"), "+task=toy", *args, run_dir=run_dir, **kw)


def forked_cli(*args: str, run_dir: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """cli(), in a child process forked from this one, where torch, Hydra and the orchestrator are imported already:
    `python -m orchestrator` (runpy, as the interpreter runs it), its own stdout, stderr and exit code, without the
    ~1.6 s of imports a new interpreter pays. For a corpus of a hundred runs that each end in a second."""
    import runpy
    import signal
    import tempfile
    import time

    import orchestrator.__main__  # noqa: F401 - its imports (torch's among them), once, in this process
    argv = ["orchestrator", *args] + ([f"hydra.run.dir={run_dir}"] if run_dir is not None else [])
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: never returns into pytest
            code = 1
            try:
                os.dup2(out.fileno(), 1)
                os.dup2(err.fileno(), 2)
                sys.stdout, sys.stderr = open(1, "w", closefd=False), open(2, "w", closefd=False)
                os.chdir(ROOT)
                from hydra.core.global_hydra import GlobalHydra
                GlobalHydra.instance().clear()  # a test in this process may have composed a config
                sys.argv = argv
                runpy.run_module("orchestrator", run_name="__main__", alter_sys=True)  # as `python -m` does
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
            except BaseException:  # noqa: BLE001 - as an interpreter would: the traceback on stderr, exit 1
                import traceback
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        deadline = time.monotonic() + timeout
        while (done := os.waitpid(pid, os.WNOHANG))[0] == 0:
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise subprocess.TimeoutExpired(argv, timeout)
            time.sleep(0.01)
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(argv, os.waitstatus_to_exitcode(done[1]),
                                           out.read().decode(errors="replace"), err.read().decode(errors="replace"))


def ladder_json(run_dir: Path) -> dict:
    return json.loads((run_dir / "ladder.json").read_text())


def events(path: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(path), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def stage_run(run_dir: Path, stage: str, attempt: int = 1) -> Path:
    """tb/<NN>_<stage> of the stage's `attempt`-th attempt (NN: its place in the run, for TensorBoard's order)."""
    found = sorted(p for p in (run_dir / "tb").glob(f"[0-9][0-9]_{stage}") if p.is_dir())
    assert len(found) >= attempt, f"no TensorBoard run for attempt {attempt} of {stage}: {found}"
    return found[attempt - 1]


@pytest.fixture
def run_dir(tmp_path) -> Path:
    return tmp_path / "run"
