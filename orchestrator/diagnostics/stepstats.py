"""Per-step loss and global gradient norm, kept on the device and read every few iterations.

One Monitor does the per-step work for every check that needs per-step numbers (non-finite values,
gradient spikes): each step it keeps the loss and, on the steps that measure it, the global gradient norm
as device tensors (a fused `_foreach_norm`, no host sync); every `check_every` iterations, and on evaluation
iterations, it stacks the window, reads it once and hands it to its consumers
(`on_window(run, stats, first_iteration, losses, norms)`, plain floats).
"""
from __future__ import annotations

import torch

from ..trainer import global_norm, read_floats


class StepStats:
    def __init__(self, consumers: list, check_every: int = 10, every_step_until: int = 0, sparse_until: int = 0,
                 sparse_every: int = 5):
        self.consumers = consumers
        self.check_every = check_every
        # gradient norms every step while spikes matter most (the first iterations), then every few steps
        # while early spikes still count, then one per window: the loss alone catches a non-finite step
        # (a non-finite gradient makes the next loss non-finite). Each norm costs a fused kernel + a list.
        self.every_step_until = every_step_until
        self.sparse_until, self.sparse_every = sparse_until, max(1, sparse_every)
        self.losses: list = []
        self.norms: list = []
        self.batches: list = []        # (permutation, end) of each step since the last snapshot, for replay

    def on_start(self, run) -> None:
        self.losses, self.norms, self.batches = [], [], []
        self.params = [p for p in run.model.parameters() if p.requires_grad]
        self.eval_every, self.budget = run.settings.eval_every, run.settings.budget
        # the steps that take a norm and the step that reads the window, as plain numbers: the per-step
        # work is a comparison and three appends
        self.next_norm = self.norm_after(run.iteration)
        self.next_flush = self.flush_after(run.iteration)
        for c in self.consumers:
            if hasattr(c, "on_start"):
                c.on_start(run, self)
        restored, self.restored = getattr(self, "restored", None), None
        if restored:  # resumed from a checkpoint: carry on exactly where the interrupted run was
            self.batches = list(restored["batches"])
            for c, state in zip(self.consumers, restored["consumers"]):
                if state is not None:
                    c.load_state_dict(state)

    # a checkpoint holds this (trainer._state), so that a resumed stage judges spikes and non-finite
    # steps against the same history as a run never interrupted (checkpoints fall on evaluation
    # steps, where the window was just read: losses and norms are empty then)
    def state_dict(self) -> dict:
        return {"batches": list(self.batches),
                "consumers": [c.state_dict() if hasattr(c, "state_dict") else None for c in self.consumers]}

    def load_state_dict(self, state: dict) -> None:
        self.restored = state  # applied by on_start, which the trainer calls after restoring

    def after_backward(self, run, loss) -> None:  # a float on the CPU, else a device tensor (trainer.step_value)
        # every step: the loss and where its batch came from (three appends: this runs 3000 times a stage)
        self.losses.append(loss)
        s = run.sampler
        self.batches.append((s.perm, s.pos, s.batch_size))
        step = run.iteration + 1  # the step now in progress (its update is not applied yet)
        if step >= self.next_norm:  # (position in the window, the per-parameter norms: one fused kernel)
            grads = [p.grad for p in self.params if p.grad is not None]
            self.norms.append((len(self.losses) - 1, torch._foreach_norm(grads) if grads else ()))
            self.next_norm = self.norm_after(step)
        if step >= self.next_flush:
            self.flush(run, step)
            self.next_flush = self.flush_after(step)

    def on_end(self, run, outcome) -> None:
        for c in self.consumers:
            if hasattr(c, "on_end"):
                c.on_end(run, self, outcome)

    def on_eval(self, run, metrics: dict) -> None:
        for c in self.consumers:
            if hasattr(c, "on_eval"):
                c.on_eval(run, self, metrics)

    def norm_after(self, step: int) -> int:
        """The next step after `step` whose gradient norm is taken."""
        nxt = step + 1
        if nxt <= self.every_step_until:
            return nxt
        every = self.sparse_every if nxt <= self.sparse_until else self.check_every
        return min(-(-nxt // every) * every, -(-nxt // self.check_every) * self.check_every)

    def flush_after(self, step: int) -> int:
        """The next step after `step` that reads the window: a full window, an evaluation, the budget's end."""
        nxt = step + 1
        return min(step + self.check_every, -(-nxt // self.eval_every) * self.eval_every, max(self.budget, nxt))

    def flush(self, run, step: int) -> None:
        n = len(self.losses)
        parts = [len(norms) for _, norms in self.norms]
        # the losses and every per-parameter norm in one host read (on the CPU the losses are floats already: only
        # the norms are read, with one stack); each step's global norm summed from its parts
        flat = [x for _, norms in self.norms for x in norms]
        if all(type(v) is float for v in self.losses):
            losses, values, at = self.losses, read_floats(flat), 0
        else:
            values = read_floats(self.losses + flat)
            losses, at = values[:n], n
        step_norms = [None] * n  # None: not measured
        for (k, _), m in zip(self.norms, parts):
            step_norms[k] = global_norm(values[at:at + m])
            at += m
        self.losses, self.norms = [], []
        first = step - n + 1
        for c in self.consumers:
            c.on_window(run, self, first, losses, step_norms)

    def batch_indices(self, k: int) -> torch.Tensor:
        perm, pos, size = self.batches[k]
        return perm[pos - size:pos]
