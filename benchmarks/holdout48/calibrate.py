"""The plain PyTorch loop the suite was calibrated with (before the commit): each family's model, batch 32, seed 0,
the full training set, the family's optimiser and LR; metrics at a few steps. Hyperparameter bugs are set here by hand.

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/holdout48/calibrate.py FAMILY[/BUG] [STEPS ...]
"""
from __future__ import annotations

import importlib
import sys
import time

import torch

FAMILY = {"blends": ("BlendsTask", 0.003), "pulses": ("PulsesTask", 0.05), "spoken": ("SpokenTask", 0.003),
          "tallies": ("TalliesTask", 0.001)}
HYPER = {"blends/lr_3", "pulses/clip_1e-3", "spoken/linear_decay_in_epochs", "tallies/adam_l2_0.5"}


def main(which: str, steps: list[int]) -> None:
    family, _, bug = which.partition("/")
    cls, lr = FAMILY[family]
    task = getattr(importlib.import_module(f"benchmarks.holdout48.{family}"), cls)(
        "none" if not bug or which in HYPER else bug)
    torch.manual_seed(0)
    p = task.build({}, 0)
    model, sched, clip = p.model, None, None
    if which == "blends/lr_3":
        lr = 3.0
    if family == "pulses":
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    elif which == "tallies/adam_l2_0.5":
        opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=0.5)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    if which == "pulses/clip_1e-3":
        clip = 1e-3
    if which == "spoken/linear_decay_in_epochs":
        sched = torch.optim.lr_scheduler.LinearLR(opt, start_factor=1.0, end_factor=0.0, total_iters=60)
    g = torch.Generator().manual_seed(0)
    t0, first = time.time(), None
    for step in range(1, max(steps) + 1):
        model.train()
        loss = p.loss(model, p.get_batch(torch.randint(0, p.train_size, (32,), generator=g)))
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
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
