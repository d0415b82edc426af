"""Every file the engine writes goes through here: atomic, inside the run directory, and a full
disk said in one line.

A write goes to `<name>.tmp` beside the file and is renamed over it, so a reader (or a resumed run)
sees the old file or the new one, never half of one; on any failure the `.tmp` is removed.
"""
from __future__ import annotations

import errno
import io
import os
from pathlib import Path
from typing import Union

from .errors import DiskFullError, RunStateError

UNNAMED = "cannot write a file"  # what disk_full_in says when the failed write named no file
NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def inside(root: Path, *parts: str) -> Path:
    """root/parts..., refused unless it stays under root (a stage name like '../x' cannot escape)."""
    root = Path(root).resolve()
    path = root.joinpath(*parts).resolve()
    if path != root and root not in path.parents:
        raise RunStateError(f"refusing to write outside the run directory: {path}", where=str(root))
    return path


def write_bytes(path: Path, data: Union[bytes, str]) -> None:
    """Atomically replace `path` with `data` (str is written as UTF-8)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    if isinstance(data, str):
        data = data.encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException as e:
        try:
            tmp.unlink()
        except OSError:
            pass
        if isinstance(e, OSError) and e.errno in NO_SPACE:
            raise DiskFullError(path) from None
        raise


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text)


def write_torch(path: Path, obj) -> None:
    """torch.save through a buffer: torch's own writer reports a full disk as a bare RuntimeError."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_bytes(path, buffer.getvalue())


def disk_full_in(e: BaseException):
    """The file a full disk stopped writing, when `e` (or what caused it) is that; else None."""
    while e is not None:
        if isinstance(e, DiskFullError):
            return e.where
        if isinstance(e, OSError) and e.errno in NO_SPACE:
            return f"cannot write {e.filename}" if e.filename else UNNAMED
        e = e.__cause__ or e.__context__
    return None
