"""Optimisers: a short name (adam, adamw, sgd) or any class by `_target_`, e.g. torch.optim.RAdam."""
from __future__ import annotations

import importlib
import inspect
from typing import Any, Callable

from .config import OptimConfig
from .errors import ConfigError

OPTIMIZERS = ("adam", "adamw", "sgd")  # the short names; anything else goes through `_target_`


def make_optimizer(params, cfg: OptimConfig, lr: float):
    import torch

    if cfg._target_:  # the user's choice, with its own arguments; the LR is the orchestrator's (probe, decay)
        return importable(cfg._target_, "optim._target_")(params, lr=lr, **dict(cfg.args))
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=cfg.weight_decay)
    if cfg.name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay)
    if cfg.name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    raise ConfigError(f"unknown optimizer {cfg.name!r} (expected {', '.join(OPTIMIZERS)})", key="optim.name")


def importable(path: str, key: str, where: str = "") -> Callable[..., Any]:
    """'torch.optim.RAdam' -> the class; a ConfigError naming the key when it does not import."""
    module, _, name = str(path).rpartition(".")
    try:
        target = getattr(importlib.import_module(module), name) if module else None
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"cannot import {path!r}: {e}", key=key, where=where) from None
    if not callable(target):
        raise ConfigError(f"{path!r} is not a class or function (expected a dotted path like "
                          "torch.optim.RAdam)", key=key, where=where)
    return target


def check_arguments(target: Callable, args: dict, key: str, where: str, given: tuple[str, ...]) -> None:
    """Refuse an argument the target does not take, before any training (a typo in optim.args.betas)."""
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return  # a builtin without a signature: its own error will say
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return
    for name in args:
        if name not in params or name in given:
            taken = ", ".join(p for p in params if p not in given and p != "self")
            raise ConfigError(f"{getattr(target, '__name__', target)} takes no argument {name!r} "
                              f"(it takes: {taken})", key=f"{key}.args.{name}", where=where)


def check(cfg: OptimConfig, where: str) -> None:
    """The optimiser and scheduler settings, checked before anything is written."""
    if cfg._target_:
        check_arguments(importable(cfg._target_, "optim._target_", where), cfg.args, "optim", where,
                        given=("params", "lr"))
    elif cfg.name not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {cfg.name!r} (expected {', '.join(OPTIMIZERS)}, or a class "
                          "by optim._target_, e.g. torch.optim.RAdam)", key="optim.name", where=where)
    elif cfg.args:
        raise ConfigError("optim.args are the arguments of optim._target_, which is not set", key="optim.args",
                          where=where)
    sched = cfg.scheduler
    if sched._target_:
        check_arguments(importable(sched._target_, "optim.scheduler._target_", where), sched.args,
                        "optim.scheduler", where, given=("optimizer",))
    elif sched.args:
        raise ConfigError("optim.scheduler.args need optim.scheduler._target_", key="optim.scheduler.args",
                          where=where)
