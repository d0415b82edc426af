"""Dataclass batches: seen as dicts of their fields by the trainer and the diagnostics, as themselves by the task.

A batch may be a tensor, a tuple or list (a namedtuple too), a dict, or a dataclass instance. The first four the
trainer and every check read and rebuild; a dataclass they cannot (its fields are attributes, not items), so
to_device left it on the CPU and the checks that swap or cut a batch's inputs skipped themselves on it
(benchmarks/holdout45's sortword: "no targets or inputs to swap in this batch layout"). `dict_batches` gives such
a task's Problem batches as dicts of the dataclass's fields, and hands the task's own functions (loss, forward,
targets, show_batch) the dataclass again, rebuilt from the dict: one adapter, in one place, when the stage's
problem is built.
"""
from __future__ import annotations

import dataclasses
import random
from typing import Any, Callable

import numpy as np
import torch

from .task import Problem


def is_record(batch: Any) -> bool:
    return dataclasses.is_dataclass(batch) and not isinstance(batch, type)


def dict_batches(problem: Problem) -> Problem:
    """`problem` itself when its batches are not dataclasses; else the same problem over dicts of their fields."""
    kind = _batch_kind(problem)
    if kind is None:
        return problem
    names = [f.name for f in dataclasses.fields(kind) if f.init]

    def as_dict(batch):
        return {n: getattr(batch, n) for n in names} if isinstance(batch, kind) else batch

    def back(batch):
        return kind(**batch) if isinstance(batch, dict) else batch

    def taking_record(fn: Callable | None, *before):
        return None if fn is None else (lambda *args: fn(*args[:len(before)], back(args[len(before)])))

    get_batch, collate = problem.get_batch, problem.collate
    return dataclasses.replace(
        problem, get_batch=lambda idx: as_dict(get_batch(idx)),
        collate=None if collate is None else (lambda items: as_dict(collate(items))),
        loss=taking_record(problem.loss, "model"), forward=taking_record(problem.forward, "model"),
        targets=taking_record(problem.targets), show_batch=taking_record(problem.show_batch))


def _batch_kind(problem: Problem):
    """The dataclass type of the problem's batches, or None. One batch of two examples is fetched with every global
    random state put back after it, so that a get_batch that draws (an augmentation) trains exactly as before."""
    states = torch.get_rng_state(), np.random.get_state(), random.getstate()
    try:
        batch = problem.get_batch(torch.arange(min(2, problem.train_size)))
    except Exception:  # noqa: BLE001 - the stage's own fetch raises it again, with the task's error
        return None
    finally:
        torch.set_rng_state(states[0])
        np.random.set_state(states[1])
        random.setstate(states[2])
    return type(batch) if is_record(batch) else None
