"""report.md: the ladder, the decisions and the diagnoses, for a human; rewritten as the run goes."""
from __future__ import annotations

import io
import re
from pathlib import Path

from . import files
from .tables import decisions_markdown, diagnoses_markdown, stages_markdown
from .task import Picture

IMAGES = "report_images"  # the closing sections' pictures, as PNG files beside report.md


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
        closing = {**sections(ladder), **extra}
        parts += [f"## {title}\n{self._section(title, value)}" for title, value in closing.items()]
        if self.data:
            parts += ["## The data each stage was fed"] + [f"### {name}\n\n{text}" for name, text in self.data.items()]
        files.write_text(self.path, "\n\n".join(parts) + "\n")  # atomic; a full disk is said in one line

    def _section(self, title: str, value) -> str:
        if not isinstance(value, Picture):
            return str(value)
        import matplotlib.pyplot as plt  # only a run with pictures loads it here

        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", title).strip("_") + ".png"
        png = io.BytesIO()
        plt.imsave(png, value.rendered(), format="png")
        files.write_bytes(self.path.parent / IMAGES / name, png.getvalue())
        return f"![{title}]({IMAGES}/{name})"
