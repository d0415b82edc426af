"""A tiny classification task for the ecosystem tests: two well-separated blobs, a small MLP.

It can hand its training set over as a torch Dataset (the DataLoader path) instead of get_batch,
and it records what its loss saw (the dtype of the logits, the batches), so tests can check
mixed precision and the order of the data.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from orchestrator.data import dataset_problem
from orchestrator.task import Problem

LADDER = {"knobs": {"n": {"easy": 16, "hard": 64, "scale": "log"}}, "eval_every": 10, "budget": 300,
          "stages": {"few": {"knobs": {"n": 16}, "goal": {"metric": "train/acc", "target": 1.0}},
                     "all": {"after": ["few"], "goal": {"metric": "train/acc", "target": 1.0}}}}
QUICK = {"diagnostics.enabled": False, "log.console": False, "optim.lr": 0.01, "optim.batch_size": 8}


class Blobs(Dataset):
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


class BlobsTask:
    metrics = ("train/acc",)

    def __init__(self, as_dataset: bool = False, workers: int = 0):
        g = torch.Generator().manual_seed(0)
        self.y = torch.arange(64) % 2
        self.x = torch.randn(64, 8, generator=g) + 3.0 * self.y[:, None].float()
        self.as_dataset, self.workers = as_dataset, workers
        self.logit_dtypes: list = []  # what the loss saw, per call

    def build(self, knobs, seed) -> Problem:
        n = int(knobs["n"])
        x, y = self.x[:n], self.y[:n]
        model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))

        def loss(model, batch):
            logits = model(batch[0])
            self.logit_dtypes.append(logits.dtype)
            return F.cross_entropy(logits, batch[1])

        def evaluate(model):
            return {"train/acc": (model(x).argmax(-1) == y).float().mean().item()}

        if self.as_dataset:
            return dataset_problem(model, Blobs(x, y), loss, evaluate, workers=self.workers)
        return Problem(model=model, train_size=n, get_batch=lambda idx: (x[idx], y[idx]), loss=loss,
                       evaluate=evaluate)
