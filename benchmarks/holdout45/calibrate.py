"""Plain PyTorch loop used to calibrate the families and bugs before the blind commit (not part of the CLI suite).

    PYTHONPATH=. python benchmarks/holdout45/calibrate.py FAMILY BUG [STEPS] [--lr X] [--sgd] [--linear-to-zero N]

Adam (or SGD) at the family's LR, batch 32 drawn at random from the full training set, seed 0; prints the first
loss and the metrics at 100, 200, 400, 800, ... steps.
"""
from __future__ import annotations

import argparse
import importlib
import time

import torch

TASKS = {"sensors": ("SensorsTask", 0.003), "glyphs": ("GlyphsTask", 0.003), "sortword": ("SortWordTask", 0.003),
         "progression": ("ProgressionTask", 0.001)}

p = argparse.ArgumentParser()
p.add_argument("family")
p.add_argument("bug")
p.add_argument("steps", type=int, nargs="?", default=800)
p.add_argument("--lr", type=float)
p.add_argument("--sgd", action="store_true")
p.add_argument("--linear-to-zero", type=int, default=0)
p.add_argument("--subset", type=int, default=3000)
a = p.parse_args()
cls, lr = TASKS[a.family]
task = getattr(importlib.import_module(f"benchmarks.holdout45.{a.family}"), cls)(a.bug)
prob = task.build({"subset": a.subset}, 0)
model = prob.model
lr = a.lr or lr
opt = torch.optim.SGD(model.parameters(), lr=lr) if a.sgd else torch.optim.Adam(model.parameters(), lr=lr)
sched = torch.optim.lr_scheduler.LinearLR(opt, 1.0, 0.0, a.linear_to_zero) if a.linear_to_zero else None
g = torch.Generator().manual_seed(0)
t0 = time.time()
marks = {100, 200, 400, 800, 1200, 1600, 2400, 3200}
for step in range(1, a.steps + 1):
    idx = torch.randint(0, prob.train_size, (min(32, prob.train_size),), generator=g)
    model.train()
    loss = prob.loss(model, prob.get_batch(idx))
    if step == 1:
        print(f"first loss {loss.item():.4g}")
    opt.zero_grad()
    loss.backward()
    opt.step()
    if sched:
        sched.step()
    if step in marks or step == a.steps:
        m = prob.evaluate(model)
        print(step, f"loss {loss.item():.4g}", " ".join(f"{k} {v:.4g}" for k, v in m.items()),
              f"({time.time() - t0:.0f}s)", flush=True)

if a.family == "progression":  # generation's view: each position predicted from its prefix alone
    from benchmarks.holdout45.progression import make_batch, predictable
    ids, _ = make_batch(task.val, a.bug)
    truth, keep = make_batch(task.val)[1], predictable(task.val, ids.shape[1])
    model.eval()
    right = total = 0
    with torch.no_grad():
        for t in range(1, ids.shape[1]):
            pred = model(ids[:, :t + 1])[:, t].argmax(-1) - (0 if a.bug == "pad_id_collides" else 1)
            right += ((pred == truth[:, t] - 1) & keep[:, t]).sum().item()
            total += keep[:, t].sum().item()
    print(f"prefix-only val accuracy {right / total:.4f}")
