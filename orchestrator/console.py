"""The live console view (rich): a progress bar per stage, decisions as they happen, a final table."""
from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .tables import cause_line, fmt

STYLE = {"converged": "green", "failed": "red", "running": "yellow", "pending": "dim",
         "info": "cyan", "warning": "yellow", "error": "bold red"}


class ConsoleSink:
    def __init__(self, live: bool = True, console: Console | None = None):
        # in a log file (not a terminal) lines stay whole instead of wrapping at 80 columns
        self.console = console or Console(highlight=False, soft_wrap=not sys.stdout.isatty(),
                                          width=None if sys.stdout.isatty() else 140)
        self.progress = Progress(TextColumn("{task.description:<18}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[goal]}"), TimeElapsedColumn(),
                                 console=self.console, disable=not live)
        self.tasks: dict[str, int] = {}
        self.goals: dict[str, str] = {}

    def stage_started(self, stage, start_iteration: int) -> None:
        sign = ">=" if stage.goal.mode == "max" else "<="
        self.goals[stage.name] = f"{stage.goal.metric} {sign} {stage.goal.target:g}"
        self.tasks[stage.name] = self.progress.add_task(stage.name, total=stage.budget, completed=start_iteration,
                                                        goal=f"goal {self.goals[stage.name]}")
        self.progress.start()

    def scalars(self, stage, iteration: int, values: dict) -> None:
        self.progress.update(self.tasks[stage.name], completed=iteration)

    def evaluated(self, stage, iteration: int, metrics: dict, samples) -> None:
        value = metrics[stage.goal.metric]
        self.progress.update(self.tasks[stage.name], completed=iteration,
                             goal=f"{stage.goal.metric} {value:.4g} (goal {self.goals[stage.name]})")

    def diagnosis(self, stage, d) -> None:
        applied = f" [dim]applied: {d.applied}[/]" if d.applied else ""
        self.console.print(f"[{STYLE.get(d.severity, '')}]{d.severity}[/] {stage.name} it {d.iteration} "
                           f"[bold]{d.code}[/]: {d.message} [dim]fix: {d.fix}[/]{applied}")

    def stage_finished(self, stage, outcome) -> None:
        self.progress.update(self.tasks[stage.name], completed=outcome.iterations, total=stage.budget)
        self.progress.stop()
        self.console.print(f"[{STYLE[stage.status]}]{stage.status}[/] {stage.name}: {outcome.reason}")

    def decision(self, ladder, decisions: list) -> None:
        d = decisions[-1]
        if d["kind"] != "advance":
            self.console.print(f"[bold]{d['kind']}[/] {d['stage']}: {d['reason']}")

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
        self.console.print(f"outputs: {run_dir}  (tensorboard --logdir {run_dir / 'tb'})")

    def summary(self, ladder) -> None:
        """Each failed stage's most likely cause; else (a converged ladder) its warnings and errors."""
        failed = [s for s in ladder.order() if s.status == "failed"]
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
