"""The plain PyTorch loop the suite was calibrated with (before the commit): each family's model, batch 32, seed 0,
the full training set, the family's optimiser and LR; metrics at a few steps. Hyperparameter bugs are set here by hand.

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/holdout52/calibrate.py FAMILY[/BUG] [STEPS ...]
"""
from __future__ import annotations

import importlib
import sys
import time

import torch

FAMILY = {"bikes": ("BikesTask", 0.001), "seismic": ("SeismicTask", 0.02), "elevator": ("ElevatorTask", 0.003),
          "baskets": ("BasketsTask", 0.001)}
HYPER = {"bikes/rmsprop_lr_0.1", "seismic/sgd_weight_decay_0.5", "elevator/adam_weight_decay_0.1",
         "baskets/warmup_in_examples"}


def main(which: str, steps: list[int]) -> None:
    family, _, bug = which.partition("/")
    cls, lr = FAMILY[family]
    task = getattr(importlib.import_module(f"benchmarks.holdout52.{family}"), cls)(
        "none" if not bug or which in HYPER else bug)
    torch.manual_seed(0)
    p = task.build({}, 0)
    model, sched = p.model, None
    if which == "bikes/rmsprop_lr_0.1":
        lr = 0.1
    if family == "bikes":
        opt = torch.optim.RMSprop(model.parameters(), lr=lr)
    elif family == "seismic":
        wd = 0.5 if which == "seismic/sgd_weight_decay_0.5" else 0.0
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=wd)
    elif family == "elevator":
        wd = 0.1 if which == "elevator/adam_weight_decay_0.1" else 0.0
        opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=wd)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=lr)
        if which == "baskets/warmup_in_examples":
            sched = torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.001, total_iters=100000)
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
