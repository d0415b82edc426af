"""The toy task with a fault on demand: a bug in the user's code after some evaluations (for crash tests)."""
from __future__ import annotations

import torch
from toy_task import ToyTask


class CrashingTask(ToyTask):
    """Raises RuntimeError at evaluation number `crash_at` of stage knob `level == crash_level`."""

    def __init__(self, start: float = 0.0, crash_level: float = 100.0, crash_at: int = 3):
        super().__init__(start)
        self.crash_level, self.crash_at = crash_level, crash_at

    def build(self, knobs, seed):
        problem = super().build(knobs, seed)
        if float(knobs["level"]) != self.crash_level:
            return problem
        evaluate, calls = problem.evaluate, [0]

        def crashing(model):
            calls[0] += 1
            if calls[0] >= self.crash_at:
                raise RuntimeError("a bug in the task's evaluate")
            return evaluate(model)

        problem.evaluate = crashing
        return problem


class NoisyTask:
    """A small classifier with dropout on random data: training draws on the RNG every step (dropout,
    batch order), and a few outliers make gradient spikes (so the diagnostics switch clipping on), so a
    resume that restores less than the whole state shows up as a different result.

    `kill_size`/`kill_after`: the process SIGKILLs itself at its `kill_after`-th batch of the stage whose
    knob `size` is `kill_size` (a kill at an exact, repeatable point).
    """

    metrics = ("train/nll",)

    def __init__(self, dropout: float = 0.3, kill_size: int = 0, kill_after: int = 0, kill_at_eval: int = 0):
        self.dropout, self.kill_size, self.kill_after = dropout, kill_size, kill_after
        self.kill_at_eval = kill_at_eval  # or SIGKILL at the start of this evaluation of that stage

    def build(self, knobs, seed):
        import math
        import os
        import signal

        import torch
        from torch import nn

        from orchestrator.task import Problem

        n = int(knobs["size"])
        g = torch.Generator().manual_seed(0)
        x = torch.randn(n, 16, generator=g)
        y = (x @ torch.randn(16, 4, generator=g)).argmax(1)
        x[::37] *= 30  # a few outliers: gradient spikes now and then, so the spike check switches clipping on
        model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Dropout(self.dropout), nn.Linear(64, 4))
        calls, evals = [0], [0]
        kill = n == self.kill_size and self.kill_after > 0
        kill_eval = n == self.kill_size and self.kill_at_eval > 0

        def get_batch(idx):
            calls[0] += 1
            if kill and calls[0] >= self.kill_after:
                os.kill(os.getpid(), signal.SIGKILL)
            return x[idx], y[idx]

        def loss(model, batch):
            return nn.functional.cross_entropy(model(batch[0]), batch[1])

        def evaluate(model):
            evals[0] += 1
            if kill_eval and evals[0] >= self.kill_at_eval:
                os.kill(os.getpid(), signal.SIGKILL)
            with torch.no_grad():
                return {"train/nll": nn.functional.cross_entropy(model(x), y).item()}

        return Problem(model=model, train_size=n, get_batch=get_batch, loss=loss, evaluate=evaluate,
                       chance_loss=math.log(4))


class DetachedToyTask(ToyTask):
    """The toy task whose loss reads its weight detached: nothing trains, whatever the LR (a named bug). Started at
    the easy level (`start: 10`), its first stage meets its goal all the same."""

    def build(self, knobs, seed):
        problem = super().build(knobs, seed)
        target, one = float(knobs["level"]), torch.ones(1, 1)

        def loss(model, batch):  # the bug: .detach() cuts the weight off the loss
            return ((one @ model.weight.detach().t() - target) ** 2).mean() / target

        problem.loss = loss
        return problem
