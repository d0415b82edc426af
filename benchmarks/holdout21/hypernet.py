"""Held-out-21 family 3: an MLP hypernetwork that writes the weights of a small target MLP per task.

Eight generated 1-D regression functions f_k(x) = a_k sin(w_k x + p_k) + b_k x (a_k in [0.5, 1.5], w_k in
[0.5, 2.5], p_k in [0, 2 pi), b_k in [-0.5, 0.5]; torch seed 0), x uniform in [-2, 2]; 2000 training and 400
validation (task, x, y) triples, the task uniform over the eight. Model: a task embedding (8 x 16) -> linear 64 -
ReLU -> linear 64 - ReLU -> linear to the 321 weights of a target MLP 1 -> 16 - tanh -> 16 - tanh -> 1, added to
a learned base (nn.Parameters, PyTorch's default scales) so the hypernetwork writes a per-task change; the target
MLP runs per example with torch.bmm. Loss: MSE. Adam at 0.003. Tuple batches (task ids (B,), x (B, 1), y (B, 1)).
Metrics: MSE and accuracy (the share of predictions within 0.05 of y; the training side on the first 400);
goal: validation accuracy. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "hyper_head_std_1", "weights_of_first_example", "task_id_mod_4", "per_task_mean_empty")
TASKS, EMB, HID, T_HID = 8, 16, 64, 16
SHAPES = [(T_HID, 1), (T_HID,), (T_HID, T_HID), (T_HID,), (1, T_HID), (1,)]
SIZES = [math.prod(s) for s in SHAPES]
N_TRAIN, N_VAL, TOL = 2000, 400, 0.05


def functions(g: torch.Generator) -> torch.Tensor:
    u = torch.rand(TASKS, 4, generator=g)
    return torch.stack([0.5 + u[:, 0], 0.5 + 2 * u[:, 1], 2 * math.pi * u[:, 2], u[:, 3] - 0.5], 1)


def draw(n: int, params: torch.Tensor, g: torch.Generator):
    task = torch.randint(TASKS, (n,), generator=g)
    x = torch.rand(n, 1, generator=g) * 4 - 2
    a, w, p, b = params[task].unbind(1)
    y = a[:, None] * torch.sin(w[:, None] * x + p[:, None]) + b[:, None] * x
    return task, x, y


class HyperNet(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.embed = nn.Embedding(TASKS, EMB)
        self.hyper = nn.Sequential(nn.Linear(EMB, HID), nn.ReLU(), nn.Linear(HID, HID), nn.ReLU(),
                                   nn.Linear(HID, sum(SIZES)))
        if bug == "hyper_head_std_1":
            nn.init.normal_(self.hyper[4].weight, std=1.0)  # BUG hyper_head_std_1: the generator's head drawn N(0, 1)
        base = []
        for shape in SHAPES:
            fan_in = shape[1] if len(shape) == 2 else (1 if shape[0] == T_HID and len(base) == 1 else T_HID)
            base.append((torch.rand(shape) * 2 - 1) / math.sqrt(fan_in))
        self.base = nn.Parameter(torch.cat([t.flatten() for t in base]))

    def forward(self, task, x):  # (B,), (B, 1) -> (B, 1)
        flat = self.base + self.hyper(self.embed(task))                               # (B, 321)
        if self.bug == "weights_of_first_example":
            flat = flat[:1].expand(len(task), -1)  # BUG weights_of_first_example: one example's weights for all
        w1, b1, w2, b2, w3, b3 = (t.view(len(task), *s) for t, s in zip(flat.split(SIZES, 1), SHAPES))
        h = torch.tanh(torch.bmm(w1, x[:, :, None]).squeeze(-1) + b1)
        h = torch.tanh(torch.bmm(w2, h[:, :, None]).squeeze(-1) + b2)
        return torch.bmm(w3, h[:, :, None]).squeeze(-1) + b3


class HyperTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "hypernet")
        g = torch.Generator().manual_seed(0)
        params = functions(g)
        self.train, self.val = draw(N_TRAIN, params, g), draw(N_VAL, params, g)
        if self.bug == "task_id_mod_4":
            self.train, self.val = [(t % 4, x, y) for t, x, y in (self.train, self.val)]  # noqa: E501  BUG task_id_mod_4: the task id stored modulo 4 (meant for a 4-way split), functions k and k+4 share an id

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        task, x, y = (t[:n] for t in self.train)
        model = HyperNet(self.bug)
        train_eval = (task[:400], x[:400], y[:400])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (t, xs, ys) in (("train", train_eval), ("val", self.val)):
                    pred = model(t, xs)
                    out[f"{split}/loss"] = F.mse_loss(pred, ys).item()
                    out[f"{split}/acc"] = ((pred - ys).abs() < TOL).float().mean().item()
            return out

        def loss(model, b):
            sq = (model(b[0], b[1]) - b[2]) ** 2
            if self.bug == "per_task_mean_empty":
                return torch.stack([sq[b[0] == k].mean() for k in range(TASKS)]).mean()  # noqa: E501  BUG per_task_mean_empty: a mean per task, balanced over the tasks; a task absent from the batch gives 0/0
            return sq.mean()

        return Problem(model=model, train_size=n, get_batch=lambda idx: (task[idx], x[idx], y[idx]),
                       loss=loss, evaluate=evaluate, chance_loss=float(y.var()),
                       forward=lambda model, b: model(b[0], b[1]), targets=lambda b: b[2])
