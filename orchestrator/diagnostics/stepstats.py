"""Per-step loss and global gradient norm, kept on the device and read every few iterations.

One Monitor does the per-step work for every check that needs per-step numbers (non-finite values,
gradient spikes): each step it keeps the loss and the per-parameter gradient norms as device tensors
(one fused `_foreach_norm`, no host sync); every `check_every` iterations, and on evaluation
iterations, it stacks the window, reads it once and hands it to its consumers
(`on_window(run, stats, first_iteration, losses, norms)`, plain floats).
"""
from __future__ import annotations

import torch

from .common import Watch


class StepStats(Watch):
    def __init__(self, consumers: list, check_every: int = 10):
        self.consumers = consumers
        self.check_every = check_every
        self.losses: list = []
        self.norms: list = []
        self.batches: list = []        # (permutation, end) of each step since the last snapshot, for replay

    def on_start(self, run) -> None:
        self.losses, self.norms, self.batches = [], [], []
        self.params = [p for p in run.model.parameters() if p.requires_grad]
        self.eval_every, self.budget = run.settings.eval_every, run.settings.budget
        for c in self.consumers:
            if hasattr(c, "on_start"):
                c.on_start(run, self)

    def after_backward(self, run, loss: torch.Tensor) -> None:
        grads = [p.grad for p in self.params]
        if any(g is None for g in grads):
            grads = [g for g in grads if g is not None]
        self.norms.append(torch._foreach_norm(grads) if grads else [torch.zeros((), device=loss.device)])
        self.losses.append(loss.detach())
        s = run.sampler
        self.batches.append((s.perm, s.pos, s.batch_size))
        step = run.iteration + 1  # the step now in progress (its update is not applied yet)
        if len(self.losses) >= self.check_every or step % self.eval_every == 0 or step >= self.budget:
            self.flush(run, step)

    def flush(self, run, step: int) -> None:
        n = len(self.losses)
        widths = {len(x) for x in self.norms}
        if len(widths) == 1:  # the usual case: one stack, one norm per window
            per_param = torch.stack([t for x in self.norms for t in x]).float().reshape(n, -1)
            norms = torch.linalg.vector_norm(per_param, dim=1)
        else:
            norms = torch.stack([torch.linalg.vector_norm(torch.stack(x).float()) for x in self.norms])
        losses = torch.stack([l.reshape(()) for l in self.losses]).float()
        values = torch.cat((losses, norms.to(losses.device))).tolist()  # the one host read per window
        self.losses, self.norms = [], []
        first = step - n + 1
        for c in self.consumers:
            c.on_window(run, self, first, values[:n], values[n:])

    def batch_indices(self, k: int) -> torch.Tensor:
        perm, pos, size = self.batches[k]
        return perm[pos - size:pos]
