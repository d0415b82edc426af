"""The plain PyTorch loop the suite was calibrated with (before the commit): each family's model, its batch size, seed
0, the full training set, the family's optimiser and LR; metrics at a few steps. Hyperparameter bugs are set here by
hand.

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/holdout58/calibrate.py FAMILY[/BUG] [STEPS ...]
"""
from __future__ import annotations

import importlib
import sys
import time

import torch

FAMILY = {"kiln": ("KilnTask", 0.1, 32), "blobs": ("BlobsTask", 0.003, 16),
          "postfix": ("PostfixTask", 0.002, 64), "mirror": ("MirrorTask", 0.001, 32)}
HYPER = {"kiln/weight_decay_0.5": {"weight_decay": 0.5},
         "blobs/sgd_at_adam_lr": {},
         "postfix/adam_lr_0.05": {"lr": 0.05},
         "mirror/steplr_in_epochs": {}}
CLIP = {"postfix": 1.0}


def optimiser(family: str, which: str, params):
    args = {"lr": FAMILY[family][1], **HYPER.get(which, {})}
    if family == "kiln":
        return torch.optim.SGD(params, **{"weight_decay": 5e-4, **args})
    if family == "blobs":
        return (torch.optim.SGD if which == "blobs/sgd_at_adam_lr" else torch.optim.Adam)(params, **args)
    if family == "postfix":
        return torch.optim.Adam(params, **args)
    return torch.optim.Adam(params, betas=(0.9, 0.98), **args)


def main(which: str, steps: list[int]) -> None:
    family, _, bug = which.partition("/")
    cls, _, batch = FAMILY[family]
    task = getattr(importlib.import_module(f"benchmarks.holdout58.{family}"), cls)(
        "none" if not bug or which in HYPER else bug)
    torch.manual_seed(0)
    p = task.build({}, 0)
    model = p.model
    opt = optimiser(family, which, model.parameters())
    sched = None
    if which == "mirror/steplr_in_epochs":
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
    g = torch.Generator().manual_seed(0)
    t0, first = time.time(), None
    for step in range(1, max(steps) + 1):
        model.train()
        loss = p.loss(model, p.get_batch(torch.randint(0, p.train_size, (batch,), generator=g)))
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        if family in CLIP:
            torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP[family])
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
