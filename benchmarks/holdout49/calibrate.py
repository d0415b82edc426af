"""The plain PyTorch loop the suite was calibrated with (before the commit): each family's model, batch 32, seed 0,
the full training set, the family's optimiser and LR; metrics at a few steps. Hyperparameter bugs are set here by hand.

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/holdout49/calibrate.py FAMILY[/BUG] [STEPS ...]
"""
from __future__ import annotations

import importlib
import sys
import time

import torch

FAMILY = {"alloys": ("AlloysTask", 0.003), "crosses": ("CrossesTask", 0.05), "deal": ("DealTask", 0.003),
          "ledger": ("LedgerTask", 0.001)}
HYPER = {"alloys/adamw_lr_0.5", "crosses/exponential_decay_per_step", "deal/adam_lr_1e-5", "ledger/adamw_wd_50"}


def main(which: str, steps: list[int]) -> None:
    family, _, bug = which.partition("/")
    cls, lr = FAMILY[family]
    task = getattr(importlib.import_module(f"benchmarks.holdout49.{family}"), cls)(
        "none" if not bug or which in HYPER else bug)
    torch.manual_seed(0)
    p = task.build({}, 0)
    model, sched, wd = p.model, None, 0.01
    if which == "alloys/adamw_lr_0.5":
        lr = 0.5
    if which == "deal/adam_lr_1e-5":
        lr = 1e-5
    if which == "ledger/adamw_wd_50":
        wd = 50.0
    if family == "crosses":
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True)
    elif family == "deal":
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
    if which == "crosses/exponential_decay_per_step":
        sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.95)
    g = torch.Generator().manual_seed(0)
    t0, first = time.time(), None
    for step in range(1, max(steps) + 1):
        model.train()
        loss = p.loss(model, p.get_batch(torch.randint(0, p.train_size, (32,), generator=g)))
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
        if sched:
            sched.step()
        if step in steps:
            model.eval()
            with torch.no_grad():
                m = p.evaluate(model)
            print(f"{which} step {step} first {first:.3g} loss {loss.item():.4g} "
                  + " ".join(f"{k} {v:.3f}" for k, v in m.items()) + f" ({time.time() - t0:.0f}s)", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], [int(s) for s in sys.argv[2:]] or [100, 200, 400, 800, 1600])
