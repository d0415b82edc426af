"""A trial's TensorBoard run: its curves, its diagnoses, and its hparams (the HParams dashboard's row)."""
from __future__ import annotations

from pathlib import Path

from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams

from ..tb import HeldScalars


class TrialBoard:
    """A sink (see orchestrator/sinks.py) for one trial, writing tb/<NN>_<stage>/trial_<n>."""

    def __init__(self, path: Path):
        for old in path.glob("events.out.tfevents.*") if path.exists() else []:
            old.unlink()  # a trial that a kill interrupted is run again from its start
        self.writer = SummaryWriter(path)
        self.held = HeldScalars(self.writer)

    def scalars(self, stage, iteration: int, values: dict) -> None:
        self.held.add(iteration, values)

    def evaluated(self, stage, iteration: int, metrics: dict, samples) -> None:
        self.held.add(iteration, metrics)
        self.held.release()

    def diagnosis(self, stage, d) -> None:
        self.writer.add_text(f"diagnoses/{d.code}", f"**{d.severity}** `{d.code}`: {d.message}", d.iteration)

    def finish(self, params: dict, result: dict, metric: str) -> None:
        self.held.release()
        best = result["best"]
        values = {f"hparam/{metric}": float(best) if best is not None else float("nan"),
                  "hparam/iterations": float(result["iterations"]),
                  "hparam/converged": float(result["status"] == "converged")}
        shown = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in params.items()}
        shown["status"] = result["status"]
        for summary in hparams(shown, values):
            self.writer.file_writer.add_summary(summary)
        self.writer.add_text("outcome", f"{result['status']}: {result['reason']}", result["iterations"])
        self.writer.close()
