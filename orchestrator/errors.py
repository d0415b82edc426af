"""Errors a user can act on: each is reported as one line, never a traceback.

Exit codes (documented in docs/reliability.md): 2 a bad config or an unusable file in the run
directory, 4 the run directory is in use by another run, 1 the disk is full or an unexpected crash,
3 (as for a ladder that stalled on a bug) the task's own code raised (TaskError).
"""


class ConfigError(Exception):
    """A mistake in the user's configuration, found before (or instead of) training.

    `where` names the file (or "command line"), `key` the dotted config key; the message says what is wrong.
    """

    exit_code = 2

    def __init__(self, message: str, key: str = "", where: str = ""):
        self.message, self.key, self.where = message, key, where
        super().__init__(self.line())

    def line(self) -> str:
        parts = [p for p in (self.where, self.key) if p]
        return f"{': '.join(parts)}: {self.message}" if parts else self.message


class RunStateError(ConfigError):
    """A file of the run directory (ladder.json, a checkpoint) cannot be used; `where` names it."""


class RunBusyError(ConfigError):
    """Another live process holds the run directory's lock."""

    exit_code = 4


class DiskFullError(ConfigError):
    """A write failed for lack of space; the file was left as it was before the write."""

    exit_code = 1

    def __init__(self, path):
        super().__init__("the disk is full", where=f"cannot write {path}")


class TaskError(Exception):
    """The task's own code (its loss, model, get_batch or evaluate) raised while a stage trained: the user's bug.
    The stage's `task_error` diagnosis is in ladder.json and the stage stays where it was, so that the same
    command resumes once the line is fixed."""

    exit_code = 3

    def __init__(self, original: BaseException, place: str, iteration: int):
        self.original, self.place, self.iteration = original, place, iteration
        super().__init__(self.line())

    def line(self) -> str:
        message = " ".join(str(self.original).split())[:200]
        return (f"the task's own code raised {type(self.original).__name__} at iteration {self.iteration}: {message} "
                f"({self.place})")
