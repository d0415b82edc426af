"""Datasets: a task may hand over a torch Dataset instead of `get_batch(indices)`.

    from orchestrator.data import dataset_problem
    return dataset_problem(model, train_set, loss, evaluate, collate=my_collate, workers=2)

Training then reads the data through a DataLoader (workers allowed) whose order is a pure function
of (seed, batch number): epoch e is a permutation drawn from a generator seeded with (seed, e), cut
into full batches. A checkpoint therefore only needs the number of batches consumed, and a resumed
stage sees exactly the batches it would have seen. (Random augmentation inside workers is seeded by
torch per worker, not replayed exactly after a resume.) The diagnostics read single examples
through `get_batch`, which this module builds from the same Dataset and collate function.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.data import default_collate

from .sampler import Sampler
from .task import Problem


def dataset_problem(model, dataset: Dataset, loss: Callable, evaluate: Callable,
                    collate: Optional[Callable[[list], Any]] = None, workers: int = 0, **more) -> Problem:
    """A Problem that trains on `dataset`; `more` are Problem's optional fields (chance_loss, forward, ...)."""
    collate = collate or default_collate

    def get_batch(indices: torch.Tensor):
        return collate([dataset[int(i)] for i in indices])

    return Problem(model=model, train_size=len(dataset), get_batch=get_batch, loss=loss, evaluate=evaluate,
                   dataset=dataset, collate=collate, workers=workers, **more)


def batches_for(problem: Problem, batch_size: int, seed: int):
    """The training batches of one stage: from the Dataset when the task gave one, else by indices."""
    if problem.dataset is not None:
        return DatasetBatches(problem, batch_size, seed)
    return Sampler(problem.train_size, batch_size, seed)


class _EpochOrder:
    """Batch number k -> the indices of that batch. Infinite; a pure function of (seed, k)."""

    def __init__(self, size: int, batch_size: int, seed: int, start: int):
        self.size, self.batch_size, self.seed, self.start = size, batch_size, seed, start
        self.per_epoch = size // batch_size  # the ragged end is dropped: every batch is full
        self._perms: dict[int, torch.Tensor] = {}

    def perm(self, epoch: int) -> torch.Tensor:
        if epoch not in self._perms:
            if len(self._perms) > 2:  # the loader reads at most a few batches ahead
                self._perms.pop(min(self._perms))
            g = torch.Generator().manual_seed((self.seed * 1_000_003 + epoch) % 2**63)
            self._perms[epoch] = torch.randperm(self.size, generator=g)
        return self._perms[epoch]

    def batch(self, k: int) -> list[int]:
        epoch, j = divmod(k, self.per_epoch)
        return self.perm(epoch)[j * self.batch_size:(j + 1) * self.batch_size].tolist()

    def __iter__(self):
        k = self.start
        while True:
            yield self.batch(k)
            k += 1


class DatasetBatches:
    """The trainer's batch source for a Dataset; the same interface as Sampler (size, batch_size,
    perm/pos of the last batch, state_dict), plus `next_batch` and `close`."""

    def __init__(self, problem: Problem, batch_size: int, seed: int):
        self.problem, self.seed = problem, seed
        self.size, self.batch_size = problem.train_size, min(batch_size, problem.train_size)
        self.consumed = 0
        self._iter = None
        self._order = _EpochOrder(self.size, self.batch_size, seed, 0)

    def _start(self) -> None:
        self._order = _EpochOrder(self.size, self.batch_size, self.seed, self.consumed)
        loader = DataLoader(self.problem.dataset, batch_sampler=self._order, collate_fn=self.problem.collate,
                            num_workers=self.problem.workers,
                            generator=torch.Generator().manual_seed(self.seed + self.consumed))
        self._iter = iter(loader)

    def next_batch(self, problem: Problem):
        if self._iter is None:
            self._start()
        batch = next(self._iter)
        self.consumed += 1
        return batch

    # what the diagnostics read of the batch just taken (e.g. to replay it)
    @property
    def perm(self) -> torch.Tensor:
        return self._order.perm(max(self.consumed - 1, 0) // self._order.per_epoch)

    @property
    def pos(self) -> int:
        return (max(self.consumed - 1, 0) % self._order.per_epoch + 1) * self.batch_size

    def state_dict(self) -> dict:
        return {"consumed": self.consumed}

    def load_state_dict(self, state: dict) -> None:
        self.close()
        self.consumed = state["consumed"]

    def close(self) -> None:
        self._iter = None  # shuts the workers down
