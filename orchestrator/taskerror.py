"""An exception raised by the task's own code while a stage trains: the user's bug, named as a diagnosis.

A shape mismatch in the loss, an index out of range in get_batch, a typo in evaluate: the stage cannot go on.
The run stops with the place in the user's code said in one line and as a diagnosis (`task_error`, error) in
ladder.json, exit 3 as for a bug the diagnostics name; the stage stays where it was (its last checkpoint), so
that the same command resumes once the line is fixed. An exception whose traceback never passes through the
user's code (only the orchestrator, torch, the standard library) stays a crash of the orchestrator (exit 1).
"""
from __future__ import annotations

import sysconfig
import traceback
from pathlib import Path
from typing import Optional

from .diagnosis import Diagnosis
from .errors import TaskError

OURS = Path(__file__).resolve().parent
LIBRARIES = {Path(p).resolve() for key in ("stdlib", "platstdlib", "purelib", "platlib")
             if (p := sysconfig.get_paths().get(key))}


def user_frame(e: BaseException) -> Optional[traceback.FrameSummary]:
    """The innermost frame of the traceback in the user's own code: not the orchestrator, not an installed
    library (torch), not the standard library."""
    return innermost_user_frame(traceback.extract_tb(e.__traceback__))


def innermost_user_frame(frames) -> Optional[traceback.FrameSummary]:
    """The last of `frames` (a traceback or a stack, outermost first) in the user's own code."""
    for frame in reversed(frames):
        if frame.filename.startswith("<"):
            continue
        path = Path(frame.filename).resolve()
        if OURS in path.parents or any(lib in path.parents for lib in LIBRARIES):
            continue
        return frame
    return None


def task_failed(run, e: Exception, where: traceback.FrameSummary) -> TaskError:
    """Record the task's exception on the stage (task_error); the TaskError to raise for the entry point."""
    message = " ".join(str(e).split())[:300]
    place = f"{where.filename}:{where.lineno} in {where.name}"
    run.diagnose(Diagnosis(
        "task_error", "error", f"the task's own code raised {type(e).__name__} at iteration {run.iteration}: "
        f"{message} ({place})", iteration=run.iteration,
        evidence={"exception": type(e).__name__, "message": message, "file": where.filename,
                  "line": where.lineno, "function": where.name, "code": where.line,
                  "traceback": "".join(traceback.format_exception(e))[-4000:]},
        fix=hint(e) + "fix the line named (its full traceback is in crash.log and in this diagnosis' evidence), "
            "then run the same command: the stage resumes from its last checkpoint"))
    return TaskError(e, place, run.iteration)


def hint(e: Exception) -> str:
    """What a common exception of a task's code usually means, ahead of the fix."""
    if "same device" in str(e):  # a task written on the CPU, run with device=cuda
        return ("the orchestrator moves each training batch to the model's device, and the task moves the rest of "
                "its data (validation sets, masks, constants): to next(model.parameters()).device; ")
    return ""
