"""The end of a sweep (`-m`): one table of its jobs, printed and saved as summary.md in the sweep folder.

A Hydra callback (conf/config.yaml, hydra.callbacks.summary): Hydra calls `on_multirun_end` once,
in the launching process, after every job of every launcher (basic, joblib, Ray, SLURM) is done;
the table is read back from each job's ladder.json, so it works however the jobs were run.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback


def _overrides(job_dir: Path) -> str:
    path = job_dir / ".hydra" / "overrides.yaml"
    if not path.exists():
        return ""
    items = [line[2:].strip() for line in path.read_text().splitlines() if line.startswith("- ")]
    return " ".join(i for i in items if not i.startswith("+task="))


def _job_key(job_dir: Path, sweep_dir: Path):
    rel = job_dir.relative_to(sweep_dir).parts
    return [int(p) if p.isdigit() else math.inf for p in rel] + [str(job_dir)]


def rows(sweep_dir: Path, objective_name: str) -> list[dict]:
    from .objective import value

    found = []
    for path in sorted(sweep_dir.rglob("ladder.json"), key=lambda p: _job_key(p.parent, sweep_dir)):
        try:
            doc = json.loads(path.read_text())
            stages = doc["stages"]
        except (OSError, ValueError, KeyError, TypeError):
            found.append({"job": str(path.parent.relative_to(sweep_dir)), "overrides": _overrides(path.parent),
                          "status": "unreadable", "stages": "", "iterations": "", "objective": ""})
            continue
        stages = [s for s in stages if s.get("status") != "skipped"]  # fallback stages the ladder did not need
        converged = sum(s.get("status") == "converged" for s in stages)
        found.append({"job": str(path.parent.relative_to(sweep_dir)), "overrides": _overrides(path.parent),
                      "status": doc.get("status", "?"), "stages": f"{converged}/{len(stages)}",
                      "iterations": sum(s.get("iterations", 0) for s in stages),
                      "objective": f"{value(objective_name, doc):g}"})
    return found


def table(found: list[dict], objective_name: str) -> str:
    head = ["job", "overrides", "status", "stages converged", "iterations", f"objective ({objective_name})"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in found:
        cells = [r["job"], f"`{r['overrides']}`" if r["overrides"] else "", r["status"], r["stages"],
                 str(r["iterations"]), r["objective"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


class MultirunSummary(Callback):
    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        try:
            sweep_dir = Path(config.hydra.sweep.dir)
            objective_name = str(config.get("objective", "iterations"))
        except Exception:
            return  # not our config: nothing to summarise
        if not sweep_dir.is_dir():
            return
        found = rows(sweep_dir, objective_name)
        if not found:
            return
        text = table(found, objective_name)
        from . import files

        files.write_text(sweep_dir / "summary.md", f"# Sweep summary\n\n{text}\n")
        print(f"\nsweep of {len(found)} run(s) in {sweep_dir} (also in summary.md):\n{text}")
