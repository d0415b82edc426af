"""Per-step loss and global gradient norm, kept on the device and read every few iterations.

One Monitor does the per-step work for every check that needs per-step numbers (non-finite values,
gradient spikes): each step it writes (loss, grad norm) into a preallocated device buffer (no host
sync); every `check_every` iterations, and on evaluation iterations, it reads the buffer once and hands
the window to its consumers (`on_window(run, stats, first_iteration, losses, norms)`).
"""
from __future__ import annotations

import torch


class StepStats:
    def __init__(self, consumers: list, check_every: int = 10):
        self.consumers = consumers
        self.check_every = check_every
        self.buffer = None
        self.n = 0                     # steps in the current window
        self.batches: list = []        # batch indices since the last snapshot (for replaying a failure)

    def on_start(self, run) -> None:
        self.buffer = torch.zeros(self.check_every, 2, device=run.settings.device)
        self.n, self.batches = 0, []
        self.eval_every, self.budget = run.settings.eval_every, run.settings.budget
        for c in self.consumers:
            if hasattr(c, "on_start"):
                c.on_start(run, self)

    def after_backward(self, run, loss: torch.Tensor) -> None:
        grads = [p.grad for p in run.model.parameters() if p.grad is not None]
        if grads:
            norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
            torch.stack((loss.detach().reshape(()).float(), norm.float()), out=self.buffer[self.n])
        else:
            self.buffer[self.n, 0] = loss.detach()
            self.buffer[self.n, 1] = 0.0
        self.n += 1
        s = run.sampler
        self.batches.append(s.perm[s.pos - s.batch_size:s.pos])
        step = run.iteration + 1  # the step now in progress (its update is not applied yet)
        if self.n == self.check_every or step % self.eval_every == 0 or step >= self.budget:
            losses, norms = self.buffer[:self.n].t().tolist()  # the one host read per window
            first = step - self.n + 1
            self.n = 0
            for c in self.consumers:
                c.on_window(run, self, first, losses, norms)
