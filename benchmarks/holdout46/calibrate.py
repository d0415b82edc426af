"""The plain PyTorch loop the suite was calibrated with (before the commit): each family's model, batch 32, seed 0,
the full training set, the family's Adam LR; metrics at a few steps. Hyperparameter bugs are set here by hand.

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/holdout46/calibrate.py FAMILY[/BUG] [STEPS ...]
"""
from __future__ import annotations

import importlib
import sys
import time

import torch

FAMILY = {"ratings": ("RatingsTask", 0.01), "rings": ("RingsTask", 0.001), "records": ("RecordsTask", 0.003),
          "progressions": ("ProgressionsTask", 0.001)}
HYPER = {"ratings/adamw_wd_10", "rings/exp_decay_per_step", "records/lr_0.3", "progressions/sgd_adam_lr"}


def main(which: str, steps: list[int]) -> None:
    family, _, bug = which.partition("/")
    cls, lr = FAMILY[family]
    task = getattr(importlib.import_module(f"benchmarks.holdout46.{family}"), cls)(
        "none" if not bug or which in HYPER else bug)
    torch.manual_seed(0)
    p = task.build({}, 0)
    model, sched = p.model, None
    if which == "ratings/adamw_wd_10":
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=10.0)
    elif which == "records/lr_0.3":
        opt = torch.optim.Adam(model.parameters(), lr=0.3)
    elif which == "progressions/sgd_adam_lr":
        opt = torch.optim.SGD(model.parameters(), lr=lr)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    if which == "rings/exp_decay_per_step":
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
    main(sys.argv[1], [int(s) for s in sys.argv[2:]] or [100, 200, 400, 800])
