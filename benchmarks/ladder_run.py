"""One CLI run of a built-in task for the side-by-side benchmarks (translation, detection, addition)."""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Run:
    wall: float        # seconds
    cpu: float         # CPU seconds of the run's process (user + system)
    returncode: int
    ladder: dict       # its ladder.json


def run_ladder(task: str, run_dir: Path, *overrides: str) -> Run:
    """`python -m orchestrator +task=TASK` into run_dir, one torch thread unless OMP_NUM_THREADS says otherwise;
    exits with the run's stderr when it left no ladder.json."""
    cmd = [sys.executable, "-m", "orchestrator", f"+task={task}", f"hydra.run.dir={run_dir}", "log.console=false",
           *overrides]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if not (run_dir / "ladder.json").exists():
        sys.exit(f"the run failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(wall, cpu, done.returncode, json.loads((run_dir / "ladder.json").read_text()))
