"""Every run-level setting, checked before anything is written, and before torch is imported: a bad
value on the command line is refused in a fraction of a second. ConfigError names the key."""
from __future__ import annotations

import math

from . import choices, diagnostics
from .config import RunConfig
from .errors import ConfigError


def validate(cfg: RunConfig) -> None:
    """Every run-level setting, checked before anything is written. ConfigError names the key."""
    where = cfg.task_file

    def need(ok: bool, key: str, rule: str, value) -> None:
        if not ok:
            raise ConfigError(f"must be {rule}, got {value}", key=key, where=where)

    def finite(x) -> bool:
        return isinstance(x, (int, float)) and math.isfinite(x)

    lad, opt, log = cfg.ladder, cfg.optim, cfg.log
    for key in ("budget", "min_budget", "eval_every"):
        need(getattr(lad, key) > 0, f"ladder.{key}", "> 0", getattr(lad, key))
    need(finite(lad.growth) and lad.growth > 0, "ladder.growth", "> 0", lad.growth)
    for key in ("patience", "max_insertions", "max_evals"):
        need(getattr(lad, key) >= 0, f"ladder.{key}", ">= 0", getattr(lad, key))
    need(finite(lad.min_delta) and lad.min_delta >= 0, "ladder.min_delta", ">= 0", lad.min_delta)
    need(finite(opt.lr) and opt.lr > 0, "optim.lr", "> 0", opt.lr)
    need(opt.batch_size > 0, "optim.batch_size", "> 0", opt.batch_size)
    choices.check(cfg)  # optimiser, scheduler, precision, threads, objective, sinks
    need(opt.clip_norm is None or (finite(opt.clip_norm) and opt.clip_norm >= 0), "optim.clip_norm",
         ">= 0 (0 or null: no clipping)", opt.clip_norm)
    need(finite(opt.momentum) and opt.momentum >= 0, "optim.momentum", ">= 0", opt.momentum)
    need(finite(opt.weight_decay) and opt.weight_decay >= 0, "optim.weight_decay", ">= 0", opt.weight_decay)
    need(log.every > 0, "log.every", "> 0", log.every)
    need(log.histograms_every >= 0, "log.histograms_every", ">= 0 (0: never)", log.histograms_every)
    need(finite(log.checkpoint_secs) and log.checkpoint_secs >= 0, "log.checkpoint_secs", ">= 0", log.checkpoint_secs)
    check_device(cfg.device, where)
    if hasattr(diagnostics, "validate"):
        diagnostics.validate(cfg)


def check_device(name: str, where: str) -> None:
    """cpu, auto, cuda[:N] (when this machine has it), mps (when available)."""
    if name in ("cpu", "auto"):
        return
    import torch  # only for a device other than the CPU

    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise ConfigError(f"unknown device {name!r} (expected cpu, cuda, cuda:N or auto)", key="device",
                          where=where) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"{name!r}: this machine has no usable CUDA GPU (use device=cpu or device=auto)",
                              key="device", where=where)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"{name!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s)", key="device",
                              where=where)
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise ConfigError(f"{name!r}: MPS is not available on this machine", key="device", where=where)
    else:
        raise ConfigError(f"unsupported device {name!r} (expected cpu, cuda, cuda:N or auto)", key="device",
                          where=where)
