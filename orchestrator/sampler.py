"""Random minibatches, one shuffled pass (epoch) after another; its state survives a checkpoint."""
from __future__ import annotations

import torch


class Sampler:
    def __init__(self, size: int, batch_size: int, seed: int):
        self.size, self.batch_size = size, min(batch_size, size)
        self.generator = torch.Generator().manual_seed(seed)
        self.perm = torch.randperm(size, generator=self.generator)
        self.pos = 0

    def next(self) -> torch.Tensor:
        if self.pos + self.batch_size > self.size:  # drop the ragged end: every batch is full
            self.perm = torch.randperm(self.size, generator=self.generator)
            self.pos = 0
        idx = self.perm[self.pos:self.pos + self.batch_size]
        self.pos += self.batch_size
        return idx

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "perm": self.perm, "pos": self.pos}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.perm, self.pos = state["perm"], state["pos"]

    def next_batch(self, problem) -> object:
        """The next training batch of `problem` (the same call as data.DatasetBatches)."""
        return problem.get_batch(self.next())
