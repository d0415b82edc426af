"""A built-in sink: every scalar of every stage as one CSV row, for pandas or a spreadsheet.

Add it with `log.sinks='[{_target_: orchestrator.csvsink.CsvSink}]'` (or in a task file). The file,
`metrics.csv` in the run directory, has the columns stage, iteration, name, value; it is appended to,
so a resumed run adds its rows after the old ones (a step logged again after a kill appears twice;
keep the last).
"""
from __future__ import annotations

import csv
from pathlib import Path

COLUMNS = ("stage", "iteration", "name", "value")


class CsvSink:
    def __init__(self, run_dir: Path, filename: str = "metrics.csv"):
        self.path = Path(run_dir) / filename
        new = not self.path.exists()
        self.file = open(self.path, "a", newline="")
        self.writer = csv.writer(self.file)
        if new:
            self.writer.writerow(COLUMNS)

    def scalars(self, stage, iteration: int, values: dict) -> None:
        self._rows(stage, iteration, values)

    def evaluated(self, stage, iteration: int, metrics: dict, samples) -> None:
        self._rows(stage, iteration, metrics)
        self.file.flush()  # once per evaluation: the file is current while the run goes on

    def _rows(self, stage, iteration: int, values: dict) -> None:
        for name, value in values.items():
            self.writer.writerow((stage.name, iteration, name, float(value)))

    def close(self) -> None:
        self.file.close()
