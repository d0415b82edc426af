"""The settings that choose an implementation (optimiser, scheduler, precision, threads, objective,
extra sinks): each checked before anything is written, with the key named."""
from __future__ import annotations

from . import objective, optim, precision, threads, usersinks
from .config import RunConfig


def check(cfg: RunConfig) -> None:
    where = cfg.task_file
    optim.check(cfg.optim, where)
    precision.check(cfg.precision, where)
    threads.check(cfg.threads, where)
    objective.check(cfg.objective, where)
    usersinks.check(cfg.log.sinks, where)
