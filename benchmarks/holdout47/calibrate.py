"""Plain PyTorch loop used to calibrate the families and bugs before the blind commit (not part of the CLI suite).

    PYTHONPATH=. python benchmarks/holdout47/calibrate.py FAMILY BUG [STEPS] [--lr X] [--opt adadelta|sgd]
        [--multistep 30,60] [--subset N]

The family's optimiser (Adam) and LR, batch 32 drawn at random from the training set, seed 0; prints the first loss
and the metrics at 100, 200, 400, 800, ... steps.
"""
from __future__ import annotations

import argparse
import importlib
import time

import torch

TASKS = {"yields": ("YieldsTask", 0.003), "segments": ("SegmentsTask", 0.003), "numwords": ("NumWordsTask", 0.003),
         "repeats": ("RepeatsTask", 0.001)}

p = argparse.ArgumentParser()
p.add_argument("family")
p.add_argument("bug")
p.add_argument("steps", type=int, nargs="?", default=800)
p.add_argument("--lr", type=float)
p.add_argument("--opt", default="adam")
p.add_argument("--multistep", default="")
p.add_argument("--subset", type=int, default=3000)
p.add_argument("--seed", type=int, default=0)
a = p.parse_args()
cls, lr = TASKS[a.family]
task = getattr(importlib.import_module(f"benchmarks.holdout47.{a.family}"), cls)(a.bug)
prob = task.build({"subset": a.subset}, a.seed)
model = prob.model
lr = a.lr or lr
opt = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD, "adadelta": torch.optim.Adadelta}[a.opt](model.parameters(), lr=lr)
sched = (torch.optim.lr_scheduler.MultiStepLR(opt, [int(m) for m in a.multistep.split(",")], 0.1)
         if a.multistep else None)
g = torch.Generator().manual_seed(a.seed)
t0 = time.time()
marks = {50, 100, 200, 400, 800, 1200, 1600, 2400, 3200}
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

if a.family == "repeats":  # streaming view: each position tagged from its prefix alone
    from benchmarks.holdout47.repeats import make_batch
    b = make_batch(task.val[:300])
    model.eval()
    right = total = 0
    with torch.no_grad():
        for t in range(b.tokens.shape[1]):
            keep = b.tags[:, t] != -100
            pred = model(b.tokens[:, :t + 1])[:, t].argmax(-1)
            right += ((pred == b.tags[:, t]) & keep).sum().item()
            total += keep.sum().item()
    print(f"prefix-only val accuracy {right / total:.4f}")
