"""The live console view (rich): a progress bar per stage, decisions as they happen, a final table."""
from __future__ import annotations

import sys

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .tables import cause_line, fmt, judged

STYLE = {"converged": "green", "failed": "red", "running": "yellow", "pending": "dim", "skipped": "dim",
         "info": "cyan", "warning": "yellow", "error": "bold red"}


class ConsoleSink:
    """One live display for the whole run: a bar per stage attempt (finished ones frozen with their final
    time), and every decision, diagnosis and stage result printed above it as whole lines."""

    def __init__(self, live: bool = True, console: Console | None = None):
        # in a log file (not a terminal) lines stay whole instead of wrapping at 80 columns
        self.console = console or Console(highlight=False, soft_wrap=not sys.stdout.isatty(),
                                          width=None if sys.stdout.isatty() else 140)
        self.progress = Progress(TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[goal]}"), TimeElapsedColumn(),
                                 console=self.console, disable=not live)
        self.tasks: dict[str, int] = {}  # stage -> the bar of its current attempt
        self.goals: dict[str, str] = {}
        self.started = False

    def stage_started(self, stage, start_iteration: int) -> None:
        sign = ">=" if stage.goal.mode == "max" else "<="
        self.goals[stage.name] = f"{stage.goal.metric} {sign} {stage.goal.target:g}"
        name = stage.name if stage.attempts <= 1 else f"{stage.name} (attempt {stage.attempts})"
        self.tasks[stage.name] = self.progress.add_task(name, total=stage.budget, completed=start_iteration,
                                                        goal=f"goal {self.goals[stage.name]}")
        if not self.started:  # started once: a restart would print every bar again
            self.progress.start()
            self.started = True

    def scalars(self, stage, iteration: int, values: dict) -> None:
        self.progress.update(self.tasks[stage.name], completed=iteration)

    def evaluated(self, stage, iteration: int, metrics: dict, samples) -> None:
        value = metrics[stage.goal.metric]
        self.progress.update(self.tasks[stage.name], completed=iteration,
                             goal=f"{stage.goal.metric} {value:.4g} (goal {self.goals[stage.name]})")

    def diagnosis(self, stage, d) -> None:
        applied = f" [dim]applied: {escape(d.applied)}[/]" if d.applied else ""
        self.console.print(f"[{STYLE.get(d.severity, '')}]{d.severity}[/] {stage.name} it {d.iteration} "
                           f"[bold]{d.code}[/]: {escape(d.message)} [dim]fix: {escape(d.fix)}[/]{applied}")

    def stage_finished(self, stage, outcome) -> None:
        task = self.tasks[stage.name]
        self.progress.update(task, completed=outcome.iterations, total=stage.budget)
        self.progress.stop_task(task)  # its timer stops: the bar keeps the stage's own time
        elapsed = next(t.elapsed for t in self.progress.tasks if t.id == task) or 0.0
        best = f", best {stage.goal.metric} {fmt(outcome.best)}" if outcome.best is not None else ""
        self.console.print(f"[{STYLE[stage.status]}]{stage.status}[/] {stage.name}: {outcome.iterations} "
                           f"iterations in {elapsed:.1f} s{best}")

    def decision(self, ladder, decisions: list) -> None:
        d = decisions[-1]
        self.console.print(f"decision {len(decisions)}: [bold]{d['kind']}[/] {d['stage']}: {escape(d['reason'])}")

    def close(self) -> None:
        self.progress.stop()

    def finished(self, ladder, status: str, run_dir, extra: dict, decisions: list) -> None:
        self.progress.stop()
        table = Table(title=f"ladder {status}", title_style=STYLE.get(status, "bold"))
        for col in ("stage", "status", "iterations / budget", "goal", "best", "lr"):
            table.add_column(col)
        for s in ladder.order():
            sign = ">=" if s.goal.mode == "max" else "<="
            table.add_row(s.name + (" *" if s.inserted else ""), f"[{STYLE[s.status]}]{s.status}[/]",
                          f"{s.iterations} / {fmt(s.budget)}", f"{s.goal.metric} {sign} {s.goal.target:g}",
                          fmt(s.best), fmt(s.lr_used))
        self.console.print(table)
        self.summary(ladder)
        for title, text in extra.items():
            if isinstance(text, str):  # pictures are in report.md and TensorBoard
                self.console.print(f"[bold]{title}[/]\n{text}")
        self.console.print(f"outputs: {run_dir}  ({tensorboard_command()} --logdir {run_dir / 'tb'})")

    def summary(self, ladder) -> None:
        """Each judged stage's most likely cause (failed, or stopped on a bug); else (a converged ladder) its
        warnings and errors."""
        failed = judged(ladder)
        for s in failed:
            self.console.print(cause_line(s).replace("**", "").replace("`", ""), markup=False)
        if failed:
            return
        found = sorted(((s, d) for s in ladder.order() for d in s.diagnoses if d["severity"] != "info"),
                       key=lambda sd: sd[1].get("time") or 0.0)
        if found:
            self.console.print(f"[yellow]converged with {len(found)} warning(s)/error(s):[/]")
        for s, d in found:
            self.console.print(f"  {d['severity']} {s.name} {d['code']}: {d['message']}", markup=False)


def tensorboard_command() -> str:
    """The tensorboard next to this Python (e.g. .venv/bin/tensorboard), which a plain shell may not have on PATH."""
    import os
    from pathlib import Path

    exe = Path(sys.executable).with_name("tensorboard")
    if not exe.exists():
        return "tensorboard"
    rel = os.path.relpath(exe)
    return rel if not rel.startswith("..") else str(exe)
