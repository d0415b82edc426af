"""The plain PyTorch loop the suite was calibrated with (before the commit): each family's model, batch 32, seed 0,
the full training set, the family's optimiser and LR; metrics at a few steps. Hyperparameter bugs are set here by hand.

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/holdout54/calibrate.py FAMILY[/BUG] [STEPS ...]
"""
from __future__ import annotations

import importlib
import sys
import time

import torch

FAMILY = {"vineyards": ("VineyardsTask", 0.05), "weaves": ("WeavesTask", 0.001),
          "barcodes": ("BarcodesTask", 0.003), "timetables": ("TimetablesTask", 0.002)}
HYPER = {"vineyards/clip_norm_1e-3", "weaves/rmsprop_eps_1", "barcodes/exponential_lr_per_step",
         "timetables/batch_size_1"}


def optimiser(family: str, which: str, params):
    lr = FAMILY[family][1]
    if family == "vineyards":
        return torch.optim.SGD(params, lr=lr, momentum=0.9)
    if family == "weaves":
        return torch.optim.RMSprop(params, lr=lr, alpha=0.9, eps=1.0 if which == "weaves/rmsprop_eps_1" else 1e-8)
    if family == "barcodes":
        return torch.optim.NAdam(params, lr=lr)
    return torch.optim.AdamW(params, lr=lr, weight_decay=0.01)


def main(which: str, steps: list[int]) -> None:
    family, _, bug = which.partition("/")
    cls = FAMILY[family][0]
    task = getattr(importlib.import_module(f"benchmarks.holdout54.{family}"), cls)(
        "none" if not bug or which in HYPER else bug)
    torch.manual_seed(0)
    p = task.build({}, 0)
    model = p.model
    opt = optimiser(family, which, model.parameters())
    sched = (torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.99) if which == "barcodes/exponential_lr_per_step"
             else None)
    batch = 1 if which == "timetables/batch_size_1" else 32
    g = torch.Generator().manual_seed(0)
    t0, first = time.time(), None
    for step in range(1, max(steps) + 1):
        model.train()
        loss = p.loss(model, p.get_batch(torch.randint(0, p.train_size, (batch,), generator=g)))
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        if which == "vineyards/clip_norm_1e-3":
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1e-3)
        opt.step()
        if sched is not None:
            sched.step()
        if step in steps:
            model.eval()
            with torch.no_grad():
                m = p.evaluate(model)
            print(f"{which} step {step} first {first:.3g} loss {loss.item():.4g} "
                  + " ".join(f"{k} {v:.3f}" for k, v in m.items()) + f" ({time.time() - t0:.0f}s)", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], [int(s) for s in sys.argv[2:]] or [100, 400, 800, 1600])
