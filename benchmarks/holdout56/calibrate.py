"""The plain PyTorch loop the suite was calibrated with (before the commit): each family's model, batch 32, seed 0,
the full training set, the family's optimiser and LR; metrics at a few steps. Hyperparameter bugs are set here by hand.

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/holdout56/calibrate.py FAMILY[/BUG] [STEPS ...]
"""
from __future__ import annotations

import importlib
import sys
import time

import torch

FAMILY = {"pendulum": ("PendulumTask", 0.003), "tiles": ("TilesTask", 0.02), "partition": ("PartitionTask", 0.001),
          "stepper": ("StepperTask", 0.002)}
HYPER = {"pendulum/exp_decay_per_step", "tiles/clip_norm_1e-3", "partition/rmsprop_lr_0.03", "stepper/adam_lr_0.05"}


def main(which: str, steps: list[int]) -> None:
    family, _, bug = which.partition("/")
    cls, lr = FAMILY[family]
    task = getattr(importlib.import_module(f"benchmarks.holdout56.{family}"), cls)(
        "none" if not bug or which in HYPER else bug)
    torch.manual_seed(0)
    p = task.build({}, 0)
    model, sched, clip = p.model, None, None
    params = model.parameters()
    if family == "pendulum":
        opt = torch.optim.NAdam(params, lr=lr)
        if which == "pendulum/exp_decay_per_step":
            sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.95)
    elif family == "tiles":
        opt = torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True)
        if which == "tiles/clip_norm_1e-3":
            clip = 1e-3
    elif family == "partition":
        opt = torch.optim.RMSprop(params, lr=0.03 if which == "partition/rmsprop_lr_0.03" else lr)
    else:
        opt = torch.optim.Adam(params, lr=0.05 if which == "stepper/adam_lr_0.05" else lr, betas=(0.9, 0.98))
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
