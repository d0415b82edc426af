"""The plain PyTorch loop the suite was calibrated with (before the commit): each family's model, its own batch size,
seed 0, the full training set, the family's optimiser and LR; metrics at a few steps. Hyperparameter bugs are set here by
hand, as the overrides in bugs.py set them in the CLI.

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/holdout59/calibrate.py FAMILY[/BUG] [STEPS ...]
"""
from __future__ import annotations

import importlib
import sys
import time

import torch

# family: (task class, optimiser, its arguments, batch size)
FAMILY = {"loaves": ("LoavesTask", torch.optim.AdamW, {"lr": 0.003, "weight_decay": 0.01}, 64),
          "sparklines": ("SparklinesTask", torch.optim.SGD, {"lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4}, 48),
          "runs": ("RunsTask", torch.optim.Adam, {"lr": 0.003}, 32),
          "uniq": ("UniqTask", torch.optim.AdamW, {"lr": 0.001, "betas": (0.9, 0.95), "weight_decay": 0.01}, 32)}
# hyperparameter bugs: (optimiser arguments changed, a scheduler factory or None)
HYPER = {
    "loaves/multistep_in_epochs": ({}, lambda opt: torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[40, 80],
                                                                                         gamma=0.1)),
    "sparklines/sgd_lr_3e-4": ({"lr": 3e-4}, None),
    "runs/adam_lr_0.03": ({"lr": 0.03}, None),
    "uniq/warmup_in_examples": ({}, lambda opt: torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.001,
                                                                                 total_iters=100000)),
}


def main(which: str, steps: list[int]) -> None:
    family, _, bug = which.partition("/")
    cls, opt_cls, args, batch = FAMILY[family]
    changed, schedule = HYPER.get(which, ({}, None))
    task = getattr(importlib.import_module(f"benchmarks.holdout59.{family}"), cls)(
        "none" if not bug or which in HYPER else bug)
    torch.manual_seed(0)
    p = task.build({}, 0)
    model = p.model
    opt = opt_cls([q for q in model.parameters() if q.requires_grad], **{**args, **changed})
    sched = schedule(opt) if schedule else None
    g = torch.Generator().manual_seed(0)
    t0, first = time.time(), None
    for step in range(1, max(steps) + 1):
        model.train()
        loss = p.loss(model, p.get_batch(torch.randint(0, p.train_size, (batch,), generator=g)))
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
