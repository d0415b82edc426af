"""The plain PyTorch loop the suite was calibrated with (before the commit): each family's model, its own batch size,
seed 0, the full training set, the family's optimiser and LR; metrics at a few steps. Hyperparameter bugs are set here by
hand, as the overrides in bugs.py set them in the CLI.

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/holdout60/calibrate.py FAMILY[/BUG] [STEPS ...]
"""
from __future__ import annotations

import importlib
import sys
import time

import torch

# family: (task class, optimiser, its arguments, batch size)
FAMILY = {"soils": ("SoilsTask", torch.optim.Adam, {"lr": 0.002}, 64),
          "signals": ("SignalsTask", torch.optim.SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True}, 32),
          "spell": ("SpellTask", torch.optim.NAdam, {"lr": 0.003}, 32),
          "sortlm": ("SortTask", torch.optim.AdamW, {"lr": 0.001, "betas": (0.9, 0.98), "weight_decay": 0.01}, 32)}
# hyperparameter bugs: the optimiser arguments changed
HYPER = {"soils/adam_lr_1e-5": {"lr": 1e-5}, "signals/sgd_lr_3": {"lr": 3.0}, "spell/nadam_lr_3e-5": {"lr": 3e-5},
         "sortlm/adamw_lr_0.1": {"lr": 0.1}}


def main(which: str, steps: list[int]) -> None:
    family, _, bug = which.partition("/")
    cls, opt_cls, args, batch = FAMILY[family]
    changed = HYPER.get(which, {})
    task = getattr(importlib.import_module(f"benchmarks.holdout60.{family}"), cls)(
        "none" if not bug or which in HYPER else bug)
    torch.manual_seed(0)
    p = task.build({}, 0)
    model = p.model
    opt = opt_cls([q for q in model.parameters() if q.requires_grad], **{**args, **changed})
    g = torch.Generator().manual_seed(0)
    t0, first = time.time(), None
    for step in range(1, max(steps) + 1):
        model.train()
        loss = p.loss(model, p.get_batch(torch.randint(0, p.train_size, (batch,), generator=g)))
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
