"""Checkpoints written atomically (temp file + rename) and read back with weights_only=True."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import torch


def save(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)  # a reader sees the old file or the new one, never half of one


def load(path: Path) -> Optional[Any]:
    if not path.exists():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)


def warm_start(model: torch.nn.Module, state: dict) -> dict:
    """Copy every tensor whose name and shape match; report the rest instead of failing."""
    own = model.state_dict()
    fits = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    wrong_shape = sorted(k for k, v in state.items() if k in own and own[k].shape != v.shape)
    model.load_state_dict(fits, strict=False)
    return {"loaded": len(fits), "total": len(own), "wrong_shape": wrong_shape,
            "missing": sorted(set(own) - set(state)), "unused": sorted(set(state) - set(own))}
