"""One run per run directory: an advisory lock the OS drops when its holder dies (even by SIGKILL)."""
from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path

from .errors import RunBusyError

LOCK_NAME = "run.lock"


class RunLock:
    """Held from before ladder.json is read until the run ends. `run.lock` holds "pid host" of the holder."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK_NAME
        self.fd = None

    def acquire(self) -> "RunLock":
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").split()
            os.close(fd)
            who = f"pid {holder[0]} on host {holder[1]}" if len(holder) >= 2 else "another process"
            raise RunBusyError(f"another run ({who}) is using this run directory; wait for it to end, "
                               "or choose another hydra.run.dir", where=str(self.path.parent)) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing drops the lock; the file stays (removing it would race a newcomer)
            self.fd = None
