"""The plain PyTorch loop the suite was calibrated with (before the commit): each family's model, batch 32, seed 0,
the full training set, the family's optimiser and LR; metrics at a few steps. Hyperparameter bugs are set here by hand.

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/holdout51/calibrate.py FAMILY[/BUG] [STEPS ...]
"""
from __future__ import annotations

import importlib
import sys
import time

import torch

FAMILY = {"gridload": ("GridLoadTask", 0.001), "birdsongs": ("BirdSongsTask", 0.02),
          "keyshift": ("KeyShiftTask", 0.003), "recipes": ("RecipesTask", 0.002)}
HYPER = {"gridload/rmsprop_weight_decay_1", "birdsongs/momentum_0.999", "keyshift/adam_lr_0.05",
         "recipes/adamw_betas_swapped"}


def optimiser(family: str, which: str, params):
    lr = 0.05 if which == "keyshift/adam_lr_0.05" else FAMILY[family][1]
    if family == "gridload":
        return torch.optim.RMSprop(params, lr=lr, alpha=0.9,
                                   weight_decay=1.0 if which == "gridload/rmsprop_weight_decay_1" else 0.0)
    if family == "birdsongs":
        return torch.optim.SGD(params, lr=lr, momentum=0.999 if which == "birdsongs/momentum_0.999" else 0.9)
    if family == "recipes":
        betas = (0.999, 0.9) if which == "recipes/adamw_betas_swapped" else (0.9, 0.999)
        return torch.optim.AdamW(params, lr=lr, weight_decay=0.01, betas=betas)
    return torch.optim.Adam(params, lr=lr)


def main(which: str, steps: list[int]) -> None:
    family, _, bug = which.partition("/")
    cls = FAMILY[family][0]
    task = getattr(importlib.import_module(f"benchmarks.holdout51.{family}"), cls)(
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
