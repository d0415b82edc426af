"""Layer health during training: activations, per-layer gradients, update/weight ratios.

Every `health.every` iterations (default 500, and at the first step) the forward of one training step
is watched with hooks (no extra forward pass), and after its backward:
- `dead_units`: share of a ReLU layer's units that output 0 for every example of the batch
  > `health.dead_fraction` (0.5; cs231n: "as much as 40% of your network can be dead").
- `saturated_units`: share of a Tanh/Sigmoid layer's outputs at the rails (|tanh| > 0.99,
  sigmoid outside [0.01, 0.99]) > `health.saturated_fraction` (0.5; LeCun et al. 1998, Glorot & Bengio 2010).
- `vanishing_gradients` / `exploding_gradients`: gradient norm of the first weight layer / the last one
  below `health.vanishing_ratio` (1e-3) or above `health.exploding_ratio` (1e3).
- the update/weight ratio ||dW|| / ||W|| of each weight layer over the next step (cs231n: ~1e-3 is
  healthy), kept for `lr_too_low` after a failure and plotted.
Scalars go to `sinks.scalars` under `health/...`; activation histograms to
`sinks.histogram(stage, iteration, "activations/<module>", values)`. Each code fires once per stage.
"""
from __future__ import annotations

import torch
from torch import nn

from ..diagnosis import Diagnosis
from .common import num, weight_layers
from .config import HealthConfig

RELU = (nn.ReLU, nn.ReLU6)
SATURATING = (nn.Tanh, nn.Sigmoid, nn.Hardtanh)


class HealthMonitor:
    def __init__(self, c: HealthConfig):
        self.c = c
        self.handles: list = []
        self.acts: dict = {}
        self.pending = None         # weights before an update, to measure it
        self.update_ratios: list = []  # (iteration, {layer: ratio})
        self.fired: set = set()

    # the watched forward
    def arm(self, model: nn.Module) -> None:
        self.acts = {}
        for name, m in model.named_modules():
            if isinstance(m, RELU + SATURATING):
                self.handles.append(m.register_forward_hook(self._hook(name or "(root)")))

    def _hook(self, name):
        def hook(m, inputs, output):
            if isinstance(output, torch.Tensor) and name not in self.acts:
                self.acts[name] = (m, output.detach())
        return hook

    def disarm(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []

    def on_start(self, run) -> None:
        self.fired, self.update_ratios, self.pending = set(), [], None
        self.every = self.c.every or 1 << 62
        restored, self.restored = getattr(self, "restored", None), None
        if restored:  # resumed: the same samples as a run never interrupted, not an extra one now
            self.fired, self.update_ratios = set(restored["fired"]), list(restored["update_ratios"])
            self.pending = restored["pending"]
            if (run.iteration + 1) % self.every == 0:
                self.arm(run.model)
        else:
            self.arm(run.model)

    def state_dict(self) -> dict:
        return {"fired": sorted(self.fired), "update_ratios": list(self.update_ratios), "pending": self.pending}

    def load_state_dict(self, state: dict) -> None:
        self.restored = state  # applied by on_start, which the trainer calls after restoring

    def after_backward(self, run, loss) -> None:
        if self.pending is None and not self.handles and (run.iteration + 2) % self.every:
            return  # the common case, kept cheap
        step = run.iteration + 1
        if self.pending is not None:
            self.measure_update(run, step)
        if self.handles:
            self.disarm()
            self.analyse(run, step)
            self.pending = {n: p.detach().clone() for n, p in weight_layers(run.model)}
        if (step + 1) % self.every == 0:
            self.arm(run.model)

    def on_end(self, run, outcome) -> None:
        self.disarm()

    # the numbers
    def measure_update(self, run, step: int) -> None:
        ratios = {}
        for n, p in weight_layers(run.model):
            before = self.pending.get(n)
            if before is not None:
                ratios[n] = float(torch.linalg.vector_norm(p.detach() - before) /
                                  (torch.linalg.vector_norm(before) + 1e-12))
        self.pending = None
        self.update_ratios.append((step - 1, ratios))
        run.sinks.scalars(run.stage, step - 1, {f"health/update_ratio/{n}": r for n, r in ratios.items()})

    def analyse(self, run, step: int) -> None:
        scalars, stage = {}, run.stage
        for name, (m, y) in self.acts.items():
            y = y.float()
            if self.c.histograms:
                run.sinks.histogram(stage, step, f"activations/{name}", y.flatten().cpu())
            if isinstance(m, RELU):
                if y.dim() < 2 or y.shape[0] < self.c.min_batch:
                    continue
                unit_dim = 1 if y.dim() in (2, 4, 5) else y.dim() - 1
                fired = (y > 0).transpose(0, unit_dim).reshape(y.shape[unit_dim], -1).any(dim=1)
                dead = 1.0 - fired.float().mean().item()
                scalars[f"health/dead_fraction/{name}"] = dead
                if dead > self.c.dead_fraction:
                    self.fire(run, step, "dead_units",
                              f"{dead:.0%} of the units of ReLU {name} never fire on a batch of {y.shape[0]}",
                              {"layer": name, "dead_fraction": num(dead), "units": int(fired.numel())},
                              "lower the LR, use a smaller init scale or LeakyReLU/GELU, or check the input scale")
            else:
                if isinstance(m, nn.Sigmoid):
                    rails = ((y < 1 - self.c.saturation) | (y > self.c.saturation)).float().mean().item()
                else:
                    lim = m.max_val if isinstance(m, nn.Hardtanh) and not isinstance(m, nn.Tanh) else 1.0
                    rails = (y.abs() > self.c.saturation * lim).float().mean().item()
                scalars[f"health/saturated_fraction/{name}"] = rails
                if rails > self.c.saturated_fraction:
                    self.fire(run, step, "saturated_units",
                              f"{rails:.0%} of the outputs of {type(m).__name__} {name} are at the rails "
                              f"(gradients through them vanish)",
                              {"layer": name, "saturated_fraction": num(rails), "threshold": self.c.saturation},
                              "scale the inputs, lower the init scale or LR, or add normalisation before it")
        self.acts = {}
        layers = [(n, p.grad) for n, p in weight_layers(run.model) if p.grad is not None]
        norms = {n: float(torch.linalg.vector_norm(g)) for n, g in layers}
        scalars.update({f"health/grad_norm/{n}": v for n, v in norms.items()})
        if len(layers) >= 2:
            (first, g0), (last, g1) = (layers[0][0], norms[layers[0][0]]), (layers[-1][0], norms[layers[-1][0]])
            ratio = g0 / g1 if g1 > 0 else float("inf") if g0 > 0 else 1.0
            scalars["health/grad_ratio_first_last"] = ratio
            ev = {"first_layer": first, "first_norm": num(g0), "last_layer": last, "last_norm": num(g1),
                  "ratio": num(ratio)}
            if ratio < self.c.vanishing_ratio:
                self.fire(run, step, "vanishing_gradients",
                          f"the first layer's gradient ({first}) is {num(ratio)}x the last layer's ({last})", ev,
                          "use ReLU-family activations, residual connections, normalisation or a better init")
            elif ratio > self.c.exploding_ratio:
                self.fire(run, step, "exploding_gradients",
                          f"the first layer's gradient ({first}) is {num(ratio)}x the last layer's ({last})", ev,
                          "clip gradients (optim.clip_norm), lower the init scale, or add normalisation")
        if scalars:
            run.sinks.scalars(stage, step, scalars)

    def fire(self, run, step, code, message, evidence, fix) -> None:
        if code in self.fired:
            return
        self.fired.add(code)
        run.diagnose(Diagnosis(code, "warning", message, iteration=step, evidence=evidence, fix=fix))
