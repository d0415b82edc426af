"""A stage's trials as a table: live on the console, and as markdown in report.md."""
from __future__ import annotations

from rich.table import Table

STYLE = {"converged": "green", "failed": "red", "pruned": "dim", "running": "yellow"}


def _cells(t: dict) -> list:
    params = ", ".join(f"{k.split('.')[-1]}={_num(v)}" for k, v in t["params"].items())
    best = _num(t["best"]) if t["best"] is not None else "–"
    return [str(t["number"]), params, t["status"], str(t["iterations"]), best, ", ".join(t["diagnoses"]) or "–"]


def console_table(stage, trials: list, total: int) -> Table:
    table = Table(title=f"search {stage.name}: {len(trials)} of {total} trials "
                  f"({sum(t['status'] == 'converged' for t in trials)} converged)")
    for col in ("trial", "params", "status", "iterations", f"best {stage.goal.metric}", "diagnoses"):
        table.add_column(col)
    for t in sorted(trials, key=lambda t: t["number"]):
        cells = _cells(t)
        cells[2] = f"[{STYLE.get(t['status'], '')}]{t['status']}[/]"
        table.add_row(*cells)
    return table


def markdown(stage) -> str:
    rows = [f"| trial | params | status | iterations | best {stage.goal.metric} | diagnoses |",
            "|---|---|---|---|---|---|"]
    rows += ["| " + " | ".join(_cells(t)) + " |" for t in sorted(stage.trials, key=lambda t: t["number"])]
    return "\n".join(rows)


def sections(ladder) -> dict:
    """report.md sections: one trials table per searched stage."""
    return {f"Search trials ({s.name})": markdown(s) for s in ladder.order() if s.trials}


def _num(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
