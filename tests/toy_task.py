"""A toy task for engine tests: one weight learns to reach `level`; higher levels take longer.

Training is real (Adam on a real loss) but costs microseconds, so the ladder logic (budgets,
insertion, resume) can be tested without waiting on a real network. With Adam at lr 1 the weight
moves about 1 per iteration, so a stage needs about |level - where it starts| iterations.
"""
from __future__ import annotations

import torch
from torch import nn

from orchestrator.task import Problem


class ToyTask:
    metrics = ("train/error",)

    def __init__(self, start: float = 0.0):
        self.start = start

    def build(self, knobs, seed):
        target = float(knobs["level"])
        model = nn.Linear(1, 1, bias=False)
        with torch.no_grad():
            model.weight.fill_(self.start)
        one = torch.ones(1, 1)

        def loss(model, batch):
            return ((model(one) - target) ** 2).mean() / target

        def evaluate(model):
            return {"train/error": abs(model.weight.item() - target) / target}

        return Problem(model=model, train_size=10, get_batch=lambda idx: idx, loss=loss, evaluate=evaluate)
