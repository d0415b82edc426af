"""The toy task with a fault on demand: a bug in the user's code after some evaluations (for crash tests)."""
from __future__ import annotations

from toy_task import ToyTask


class CrashingTask(ToyTask):
    """Raises RuntimeError at evaluation number `crash_at` of stage knob `level == crash_level`."""

    def __init__(self, start: float = 0.0, crash_level: float = 100.0, crash_at: int = 3):
        super().__init__(start)
        self.crash_level, self.crash_at = crash_level, crash_at

    def build(self, knobs, seed):
        problem = super().build(knobs, seed)
        if float(knobs["level"]) != self.crash_level:
            return problem
        evaluate, calls = problem.evaluate, [0]

        def crashing(model):
            calls[0] += 1
            if calls[0] >= self.crash_at:
                raise RuntimeError("a bug in the task's evaluate")
            return evaluate(model)

        problem.evaluate = crashing
        return problem
