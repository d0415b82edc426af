"""The plain PyTorch loop the suite was calibrated with (before the commit): each family's model, batch 32, seed 0,
the full training set, the family's optimiser and LR; metrics at a few steps. Hyperparameter bugs are set here by hand.

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/holdout50/calibrate.py FAMILY[/BUG] [STEPS ...]
"""
from __future__ import annotations

import importlib
import sys
import time

import torch

FAMILY = {"parcels": ("ParcelsTask", 0.05), "chessboards": ("ChessboardsTask", 0.002),
          "dnareads": ("DnaReadsTask", 0.003), "melodies": ("MelodiesTask", 0.001)}
HYPER = {"parcels/lr_2", "chessboards/multistep_per_iteration", "dnareads/lr_1e-5", "melodies/lr_0.1"}


def optimiser(family: str, which: str, params):
    lr = FAMILY[family][1]
    if which == "parcels/lr_2":
        lr = 2.0
    elif which == "dnareads/lr_1e-5":
        lr = 1e-5
    elif which == "melodies/lr_0.1":
        lr = 0.1
    if family == "parcels":
        return torch.optim.SGD(params, lr=lr, momentum=0.9)
    if family == "chessboards":
        return torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    return torch.optim.Adam(params, lr=lr)


def main(which: str, steps: list[int]) -> None:
    family, _, bug = which.partition("/")
    cls = FAMILY[family][0]
    task = getattr(importlib.import_module(f"benchmarks.holdout50.{family}"), cls)(
        "none" if not bug or which in HYPER else bug)
    torch.manual_seed(0)
    p = task.build({}, 0)
    model, sched = p.model, None
    opt = optimiser(family, which, model.parameters())
    if which == "chessboards/multistep_per_iteration":
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[30, 60], gamma=0.1)
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
