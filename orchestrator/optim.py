"""Optimizers by name, so a config can choose one without code."""
from __future__ import annotations

import torch

from .config import OptimConfig
from .errors import ConfigError

OPTIMIZERS = ("adam", "adamw", "sgd")  # engine.validate refuses any other name before the run starts


def make_optimizer(params, cfg: OptimConfig, lr: float) -> torch.optim.Optimizer:
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=cfg.weight_decay)
    if cfg.name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay)
    if cfg.name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    raise ConfigError(f"unknown optimizer {cfg.name!r} (expected {', '.join(OPTIMIZERS)})", key="optim.name")
