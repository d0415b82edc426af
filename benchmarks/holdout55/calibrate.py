"""The plain PyTorch loop the suite was calibrated with (before the commit): each family's model, batch 32, seed 0,
the full training set, the family's optimiser and LR; metrics at a few steps. Hyperparameter bugs are set here by hand.

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/holdout55/calibrate.py FAMILY[/BUG] [STEPS ...]
"""
from __future__ import annotations

import importlib
import sys
import time

import torch

FAMILY = {"cupping": ("CuppingTask", 0.01), "stamps": ("StampsTask", 0.05),
          "keypad": ("KeypadTask", 0.01), "guestlists": ("GuestlistsTask", 0.001)}
HYPER = {"cupping/adamax_weight_decay_0.3": {"weight_decay": 0.3},
         "stamps/adagrad_lr_decay_0.1": {"lr_decay": 0.1},
         "keypad/radam_lr_0.2": {"lr": 0.2}}


def optimiser(family: str, which: str, params):
    args = {"lr": FAMILY[family][1], **HYPER.get(which, {})}
    if family == "cupping":
        return torch.optim.Adamax(params, **args)
    if family == "stamps":
        return torch.optim.Adagrad(params, **args)
    if family == "keypad":
        return torch.optim.RAdam(params, **args)
    return torch.optim.Adam(params, betas=(0.9, 0.98), **args)


def main(which: str, steps: list[int]) -> None:
    family, _, bug = which.partition("/")
    cls = FAMILY[family][0]
    task = getattr(importlib.import_module(f"benchmarks.holdout55.{family}"), cls)(
        "none" if not bug or which in HYPER else bug)
    torch.manual_seed(0)
    p = task.build({}, 0)
    model = p.model
    opt = optimiser(family, which, model.parameters())
    g = torch.Generator().manual_seed(0)
    t0, first = time.time(), None
    for step in range(1, max(steps) + 1):
        model.train()
        loss = p.loss(model, p.get_batch(torch.randint(0, p.train_size, (32,), generator=g)))
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step in steps:
            model.eval()
            with torch.no_grad():
                m = p.evaluate(model)
            print(f"{which} step {step} first {first:.3g} loss {loss.item():.4g} "
                  + " ".join(f"{k} {v:.3f}" for k, v in m.items()) + f" ({time.time() - t0:.0f}s)", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], [int(s) for s in sys.argv[2:]] or [100, 400, 800, 1600])
