"""report.md: the ladder, the decisions and the diagnoses, for a human; rewritten as the run goes."""
from __future__ import annotations

from pathlib import Path

from . import files
from .tables import decisions_markdown, diagnoses_markdown, stages_markdown


class ReportSink:
    def __init__(self, path: Path, task: str):
        self.path, self.task = path, task
        self.data: dict[str, str] = {}  # stage -> its training batch as the model receives it (show.py)

    def stage_ready(self, stage, problem, settings) -> None:
        from .show import show_batch
        self.data[stage.name] = show_batch(problem)

    def decision(self, ladder, decisions: list) -> None:
        self._write(ladder, "running", decisions, {})

    def finished(self, ladder, status: str, run_dir, extra: dict, decisions: list) -> None:
        self._write(ladder, status, decisions, extra)

    def _write(self, ladder, status: str, decisions: list, extra: dict) -> None:
        parts = [f"# Ladder report: {self.task}", f"Status: **{status}**", "## Stages", stages_markdown(ladder),
                 "## Decisions", decisions_markdown(decisions), "## Diagnoses", diagnoses_markdown(ladder)]
        from .search.table import sections  # a searched stage's trials
        parts += [f"## {title}\n{text}" for title, text in {**sections(ladder), **extra}.items()]
        if self.data:
            parts += ["## The data each stage was fed"] + [f"### {name}\n\n{text}" for name, text in self.data.items()]
        files.write_text(self.path, "\n\n".join(parts) + "\n")  # atomic; a full disk is said in one line
