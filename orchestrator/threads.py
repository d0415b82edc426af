"""How many CPU threads torch uses: set once, at the start of a run.

torch's default (every core) is slow when several runs share a machine: on a busy 2-core machine
the translation ladder took 5 min 12 s with the default and 54 s with one thread. `auto` divides the
cores this process may use by the jobs a sweep runs at once (Hydra's launcher `n_jobs`), unless
OMP_NUM_THREADS says otherwise.
"""
from __future__ import annotations

import os

from .errors import ConfigError


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # what this process may use (a container, taskset)
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def count(setting, jobs_at_once: int = 1) -> int:
    """'auto' -> OMP_NUM_THREADS when the user set it, else cores // jobs (at least 1); a number -> itself."""
    if str(setting) == "auto":
        env = os.environ.get("OMP_NUM_THREADS", "")
        if env.isdigit() and int(env) > 0:
            return int(env)
        return max(1, cores() // max(1, jobs_at_once))
    return int(setting)


def check(setting, where: str) -> None:
    text = str(setting)
    if text != "auto" and not (text.isdigit() and int(text) > 0):
        raise ConfigError(f"must be a number of threads > 0 or auto, got {setting!r}", key="threads", where=where)


def jobs_at_once(hydra_cfg) -> int:
    """The parallel jobs of a Hydra multirun (joblib's n_jobs, a pool size); 1 for a single run."""
    try:
        launcher = hydra_cfg.launcher
        n = launcher.get("n_jobs") if launcher is not None else None
        return n if isinstance(n, int) and n > 0 else 1
    except Exception:
        return 1


def apply(setting, jobs: int = 1) -> int:
    """Set torch's intra-op threads; returns the number set."""
    import torch

    n = count(setting, jobs)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n
