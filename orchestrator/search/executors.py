"""Where trials run: `local` worker processes, or `ray` tasks on a Ray cluster.

Both offer submit(spec) -> handle, wait(handles) -> [(handle, result)] (at least one finished trial)
and close(), and say how many trials they run at once (`parallel`): `search.parallel`, or with `0` (the
default) one per core this process may use (at most MAX_AUTO; local), or as many as the Ray cluster's CPUs hold.
The driver keeps that many trials in flight. Trials compare themselves only with the trials numbered before
them (trial.InOrder), so running them at once changes how soon the search ends, not what it finds; the `tpe`
sampler, which draws each trial from the trials finished before it, runs one at a time unless told otherwise.
"""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import sys
import time
from pathlib import Path

from .trial import run_trial


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


MAX_AUTO = 4  # trial processes started by default: each holds a copy of torch and the task's data


class LocalExecutor:
    """Trials in `parallel` worker processes (spawned: a forked torch can deadlock), each with
    cores // parallel torch threads, and never more than this process has (OMP_NUM_THREADS=1 stays 1):
    on a busy 2-core machine, 2 threads per trial were measured 20x slower than 1 (benchmarks/search.py)."""

    def __init__(self, parallel: int):
        import torch
        self.parallel = parallel
        self.threads = max(1, min(cores() // parallel, torch.get_num_threads()))
        self.pool = cf.ProcessPoolExecutor(parallel, mp_context=multiprocessing.get_context("spawn"),
                                           initializer=_die_with_parent)

    def submit(self, spec):
        return self.pool.submit(run_trial, spec)

    def wait_started(self, handle, study, number: int) -> None:
        """Tasks start in order, each on a worker of its own (at most `parallel` are in flight): nothing to wait for."""

    def wait(self, handles: list) -> list:
        done, _ = cf.wait(handles, return_when=cf.FIRST_COMPLETED)
        return [(h, h.result()) for h in handles if h in done]

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def _die_with_parent() -> None:
    """A worker ends with the run that started it (a SIGKILLed run must not leave trials training)."""
    try:
        import ctypes
        import signal
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - not Linux: workers end when they next read their queue
        pass


class RayExecutor:
    """Each trial a Ray task asking for `search.resources` (cpus, gpus; fractional GPUs share one) on the
    cluster at `search.ray_address`, or on a local Ray instance started here (and stopped at the end).
    Trials read the warm start from, and write their outputs to, the run directory: on a multi-node
    cluster it must be on a filesystem every node mounts at the same path."""

    def __init__(self, address, cpus: float, gpus: float):
        import ray
        self.ray = ray
        self.started = not ray.is_initialized()
        if self.started:
            if address:
                ray.init(address=address, log_to_driver=False, logging_level="ERROR")
            else:
                # the local instance's workers import this very code (not another installed copy)
                root = str(Path(__file__).resolve().parents[2])
                paths = [root] + [p for p in sys.path if p and Path(p).is_dir()]
                os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
                ray.init(include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                         configure_logging=False)
        self.threads = max(1, int(cpus))
        self.parallel = max(1, int(ray.cluster_resources().get("CPU", 1) // max(cpus, 1e-9)))
        self.task = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=0)(run_trial)

    def submit(self, spec):
        return self.task.remote(spec)

    def wait_started(self, handle, study, number: int, poll: float = 0.05) -> None:
        """Wait until trial `number` has begun (or ended). Ray may start tasks out of order, and a later trial
        waits for the earlier ones at each evaluation (trial.InOrder): on a cluster without room for both, the
        later one would hold the CPU the earlier one waits for. So a trial is submitted only once the one before
        it runs. (The local pool starts tasks in order, each on a worker of its own: it needs no wait.)"""
        from .trial import STARTED
        while not self.ray.wait([handle], timeout=0)[0]:
            trial = next((t for t in study.get_trials(deepcopy=False) if t.number == number), None)
            if trial is None or trial.user_attrs.get(STARTED):
                return
            time.sleep(poll)

    def wait(self, handles: list) -> list:
        ready, _ = self.ray.wait(handles, num_returns=1)
        return [(h, self.ray.get(h)) for h in ready]

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()


def make(search, trials: int) -> "LocalExecutor | RayExecutor":
    """The executor for `trials` more trials, running `search.parallel` at a time (0: see the module's doc)."""
    chosen = search.parallel or (1 if search.sampler == "tpe" else 0)
    if search.executor == "ray":
        ex = RayExecutor(search.ray_address, search.resources.cpus, search.resources.gpus)
        ex.parallel = chosen or min(ex.parallel, trials)
        return ex
    return LocalExecutor(chosen or max(1, min(cores(), MAX_AUTO, trials)))
