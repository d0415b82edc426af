"""The plain PyTorch loop the suite was calibrated with (before the commit): each family's model, batch 32, seed 0,
the full training set, the family's optimiser and LR; metrics at a few steps. Hyperparameter bugs are set here by hand.

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/holdout57/calibrate.py FAMILY[/BUG] [STEPS ...]
"""
from __future__ import annotations

import importlib
import sys
import time

import torch

FAMILY = {"orchards": ("OrchardsTask", 0.02), "heartbeat": ("HeartbeatTask", 0.003),
          "numerals": ("NumeralsTask", 0.003), "sorter": ("SorterTask", 0.001)}
HYPER = {"orchards/momentum_0.999": {"momentum": 0.999},
         "heartbeat/linear_decay_in_epochs": {},
         "numerals/rmsprop_momentum_0.95": {"momentum": 0.95},
         "sorter/batch_size_2": {}}
BATCH = {"sorter/batch_size_2": 2}


def optimiser(family: str, which: str, params):
    args = {"lr": FAMILY[family][1], **HYPER.get(which, {})}
    if family == "orchards":
        return torch.optim.SGD(params, **{"momentum": 0.9, **args})
    if family == "heartbeat":
        return torch.optim.AdamW(params, weight_decay=0.01, **args)
    if family == "numerals":
        return torch.optim.RMSprop(params, **args)
    return torch.optim.NAdam(params, **args)


def main(which: str, steps: list[int]) -> None:
    family, _, bug = which.partition("/")
    cls = FAMILY[family][0]
    task = getattr(importlib.import_module(f"benchmarks.holdout57.{family}"), cls)(
        "none" if not bug or which in HYPER else bug)
    torch.manual_seed(0)
    p = task.build({}, 0)
    model = p.model
    opt = optimiser(family, which, model.parameters())
    sched = None
    if which == "heartbeat/linear_decay_in_epochs":
        sched = torch.optim.lr_scheduler.LinearLR(opt, start_factor=1.0, end_factor=0.0, total_iters=30)
    g = torch.Generator().manual_seed(0)
    t0, first = time.time(), None
    for step in range(1, max(steps) + 1):
        model.train()
        loss = p.loss(model, p.get_batch(torch.randint(0, p.train_size, (BATCH.get(which, 32),), generator=g)))
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
    main(sys.argv[1], [int(s) for s in sys.argv[2:]] or [100, 400, 800, 1600])
