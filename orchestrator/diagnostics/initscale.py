"""Weights far larger than their layer's default initialisation (code `bad_init_loss`, warning).

A standard layer's weight tensor (Linear, Conv, Embedding, RNN) whose std, as the task built it, is above
`start.weight_factor` (10) x PyTorch's default init for that layer (uniform bounds b have std b/sqrt(3):
1/sqrt(3 fan_in) for Linear and Conv, 1/sqrt(3 hidden) for RNNs; N(0, 1) for Embedding) feeds the next layers
inputs that much larger: saturated gates, a stable LR ten times lower, a ladder ten times slower. The first
loss alone misses it on a small stage (an embedding drawn with std 50 gave 2.4x the chance loss on one draw
of 10 examples, 25x on another), so the start checks keep it and, when the stage said nothing else (no
warning or error: saturation or vanishing gradients already point there, and come first), say it at the
stage's end. A tensor shared with an Embedding (tied weights) is judged against the Embedding's scale.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from ..diagnosis import Diagnosis
from .common import num


def oversized_weights(model: nn.Module, factor: float) -> dict:
    """name -> {std, default} of the weight tensors whose std is above `factor` x their layer's default init's."""
    defaults: dict = {}  # id(tensor) -> (name, the largest default among the modules that hold it)
    for module_name, m in model.named_modules():
        for name, p in m.named_parameters(recurse=False):
            default = default_std(m, name, p)
            if default is not None:
                full = f"{module_name}.{name}" if module_name else name
                known = defaults.get(id(p))
                defaults[id(p)] = (known[0] if known else full, max(default, known[1] if known else 0.0), p)
    found = {}
    for name, default, p in defaults.values():
        if p.numel() < 2:
            continue
        std = float(p.detach().float().std())
        if math.isfinite(std) and std > factor * default:
            found[name] = {"std": num(std), "default": num(default)}
    return found


def default_std(m: nn.Module, name: str, p) -> Optional[float]:
    """The std of PyTorch's default init for weight `name` of module `m`; None for anything else."""
    if isinstance(m, (nn.Embedding, nn.EmbeddingBag)) and name == "weight":
        return 1.0
    if isinstance(m, (nn.Linear, nn.Bilinear, nn.modules.conv._ConvNd)) and name == "weight" and p.dim() >= 2:
        return 1.0 / math.sqrt(3.0 * p[0].numel())  # fan_in: in_features (x the kernel, / groups)
    if isinstance(m, nn.RNNBase) and name.startswith("weight_"):
        return 1.0 / math.sqrt(3.0 * m.hidden_size)
    return None


def oversized_diagnosis(oversized: dict) -> Diagnosis:
    parts = [f"{n} has std {v['std']}, {num(float(v['std']) / float(v['default']))}x the default {v['default']}"
             for n, v in list(oversized.items())[:3]]
    more = f" (and {len(oversized) - 3} more)" if len(oversized) > 3 else ""
    return Diagnosis(
        "bad_init_loss", "warning", f"the fresh weights were far larger than their layers' default init: "
        f"{'; '.join(parts)}{more}. The next layers see inputs that much larger (saturation, a much lower stable "
        "LR, slower training), even where the first loss did not show it",
        evidence={"weights": oversized, "before_update": True},
        fix="initialise these layers at their default scale (or the model's usual one, e.g. N(0, 0.02) for "
            "embeddings); check init std arguments and gains")


EXPANDING = 3.0  # a recurrent gate block's largest singular value above this (PyTorch's default init: ~1.15)


def expanding_recurrence(model: nn.Module) -> Optional[Diagnosis]:
    """A recurrent layer whose hidden-to-hidden map expands the state at every step: a gate block of `weight_hh`
    (hidden x hidden per gate) with its largest singular value above `EXPANDING`. PyTorch's default init gives ~1.15,
    an orthogonal init its gain (1; tanh's recommended 5/3); `orthogonal_(block, gain=5)` (holdout43's mirrorword)
    multiplies the state by 5 each step: a GRU's or LSTM's gates go to their rails and a plain RNN's gradients
    explode, though the first loss is at chance and the weights' std is under 10x the default."""
    worst = None
    for name, m in model.named_modules():
        if not isinstance(m, nn.RNNBase):
            continue
        gates = {"LSTM": 4, "GRU": 3}.get(m.mode, 1)
        for pname, w in m.named_parameters(recurse=False):
            if not pname.startswith("weight_hh") or w.dim() != 2 or w.shape[0] % gates:
                continue
            blocks = w.detach().float().reshape(gates, -1, w.shape[1])
            if blocks.shape[1] != blocks.shape[2] or not bool(torch.isfinite(blocks).all()):
                continue  # a projected LSTM's blocks are not square: no step-to-step map to judge
            sigma = float(torch.linalg.matrix_norm(blocks, ord=2).max())
            if worst is None or sigma > worst[0]:
                worst = (sigma, f"{name}.{pname}" if name else pname, m.mode)
    if worst is None or worst[0] <= EXPANDING:
        return None
    sigma, where, mode = worst
    code = "saturated_units" if mode in ("LSTM", "GRU") else "exploding_gradients"
    return Diagnosis(
        code, "warning", f"{where} multiplies the recurrent state by up to {num(sigma)} at every step (its largest "
        f"singular value per gate; PyTorch's default init gives ~1.15): the state grows step after step, so "
        + ("the gates sit at their rails and learn slowly" if code == "saturated_units" else
           "the gradients through time explode"),
        evidence={"layer": where, "largest_singular_value": num(sigma), "limit": EXPANDING, "mode": mode,
                  "recurrent_gain": True},
        fix="initialise weight_hh with PyTorch's default or orthogonal_ at gain 1 (5/3 for tanh at most)")


GATES = {"GRU": ("reset", "update", "candidate"), "LSTM": ("input", "forget", "cell", "output")}
RAIL = 4.0  # a gate's bias at or beyond this (sigmoid 0.982, tanh 0.9993): it starts at its rail whatever its input


def saturated_gates(model: nn.Module, inputs: Optional[dict] = None) -> Optional[Diagnosis]:
    """A GRU's or LSTM's gates biased to their rails: b_ih + b_hh of a gate at least `RAIL` in size for most of its
    units (every bias set to 5, the forget-gate habit applied to all of them: a GRU's update gate then keeps the state
    at 0.99996 per step and its candidate's tanh is flat), so the state barely moves and the gradients through the
    gates vanish, while the hidden states stay small and the weights' scale is the default. With `inputs` (module name
    -> what its first layer read, (steps, features)), the first step's pre-activations are judged: bias plus input
    projection (embeddings drawn 30x too large saturate the gates as surely). An LSTM's forget gate is not judged: a
    large forget bias is a deliberate choice for long memories."""
    worst = None
    for name, m in model.named_modules():
        if not isinstance(m, nn.RNNBase) or m.mode not in GATES or not m.bias:
            continue
        names = GATES[m.mode]
        sides = 2 if m.bidirectional else 1
        for layer in range(m.num_layers * sides):
            suffix = f"_l{layer // sides}" + ("_reverse" if layer % sides else "")
            b_ih, b_hh = getattr(m, f"bias_ih{suffix}", None), getattr(m, f"bias_hh{suffix}", None)
            if b_ih is None or b_hh is None:
                continue
            total = (b_ih.detach().float() + b_hh.detach().float()).reshape(len(names), -1)
            x = (inputs or {}).get(name) if layer == 0 else None  # what the first layer reads, (steps, features)
            w = getattr(m, f"weight_ih{suffix}", None)
            if x is not None and w is not None and x.shape[-1] == w.shape[1]:
                # the gates' pre-activations at the first step of each sequence (the state still 0): the inputs'
                # projection too, not the bias alone (embeddings drawn at std 5.7: holdout53's codons)
                pre = x.detach().float() @ w.detach().float().T + total.reshape(-1)
                pre = pre.reshape(len(x), len(names), -1)
            else:
                pre = total[None]
            for k, gate in enumerate(names):
                if (m.mode, gate) == ("LSTM", "forget"):
                    continue
                share = float((pre[:, k].abs() >= RAIL).float().mean())
                if share >= 0.5 and (worst is None or share > worst[0]):
                    worst = (share, f"{name or 'the recurrent layer'} ({suffix.strip('_')})", m.mode, gate,
                             float(pre[:, k].abs().median()))
    if worst is None:
        return None
    share, where, mode, gate, median = worst
    return Diagnosis(
        "saturated_units", "warning", f"{where}: the {mode}'s {gate} gate starts at its rail for {share:.0%} of its "
        f"units and inputs (its pre-activation {num(median)} in size, bias plus input projection with the state at 0; "
        "at 4 a sigmoid is 0.98): the gate is nearly constant and passes almost no gradient, so the state barely "
        "moves and learns slowly",
        evidence={"layer": where, "gate": gate, "mode": mode, "pre_activation": num(median), "share": round(share, 3),
                  "saturated_gates": True},
        fix="keep the recurrent layer's default init and inputs of unit scale (embeddings at std ~1 or 1/sqrt(dim), "
            "standardised features); a large bias belongs only to an LSTM's forget gate (1, or 2-3 for long memories)")
