"""The plain PyTorch loop the suite was calibrated with (before the commit): each family's model, batch 32, seed 0,
the full training set, the family's optimiser and LR; metrics at a few steps. Hyperparameter bugs are set here by hand.

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/holdout53/calibrate.py FAMILY[/BUG] [STEPS ...]
"""
from __future__ import annotations

import importlib
import sys
import time

import torch

FAMILY = {"turbines": ("TurbinesTask", 0.002), "banknotes": ("BanknotesTask", 0.05), "codons": ("CodonsTask", 0.003),
          "bells": ("BellsTask", 0.001)}
HYPER = {"turbines/exponential_decay_per_step", "banknotes/clip_norm_0.01", "codons/adam_lr_3e-6", "bells/adamw_lr_0.1"}


def main(which: str, steps: list[int]) -> None:
    family, _, bug = which.partition("/")
    cls, lr = FAMILY[family]
    task = getattr(importlib.import_module(f"benchmarks.holdout53.{family}"), cls)(
        "none" if not bug or which in HYPER else bug)
    torch.manual_seed(0)
    p = task.build({}, 0)
    model, sched, clip = p.model, None, None
    if family == "turbines":
        opt = torch.optim.NAdam(model.parameters(), lr=lr)
        if which == "turbines/exponential_decay_per_step":
            sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.95)
    elif family == "banknotes":
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True)
        if which == "banknotes/clip_norm_0.01":
            clip = 0.01
    elif family == "codons":
        opt = torch.optim.Adam(model.parameters(), lr=3e-6 if which == "codons/adam_lr_3e-6" else lr)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=0.1 if which == "bells/adamw_lr_0.1" else lr, betas=(0.9, 0.98),
                                weight_decay=0.01)
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
    main(sys.argv[1], [int(s) for s in sys.argv[2:]] or [100, 400, 800, 1600])
