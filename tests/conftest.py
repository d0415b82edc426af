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
