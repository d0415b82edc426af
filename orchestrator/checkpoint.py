"""Checkpoints written atomically (files.write_torch) and read back with weights_only=True only."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import torch

from . import files
from .errors import RunStateError


def save(obj: Any, path: Path) -> None:
    files.write_torch(path, obj)  # a reader sees the old file or the new one, never half of one


def load(path: Path) -> Optional[Any]:
    """The checkpoint, None when there is none; RunStateError when it cannot be read.

    Never with weights_only=False (torch's own message suggests it for a refused pickle; a file in a
    run directory is not trusted code), and torch's message is not passed on for the same reason.
    """
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        text = str(e)
        why = "it holds objects other than tensors and plain values (refused, never unpickled)" \
            if "unsupported global" in text.lower() else "truncated or not a checkpoint"
        raise RunStateError(f"unreadable checkpoint: {why}", where=str(path)) from None


def warm_start(model: torch.nn.Module, state: dict) -> dict:
    """Copy every tensor whose name and shape match; report the rest instead of failing."""
    own = model.state_dict()
    fits = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    wrong_shape = sorted(k for k, v in state.items() if k in own and own[k].shape != v.shape)
    model.load_state_dict(fits, strict=False)
    return {"loaded": len(fits), "total": len(own), "wrong_shape": wrong_shape,
            "missing": sorted(set(own) - set(state)), "unused": sorted(set(state) - set(own))}
