"""TensorBoard: one run per stage attempt (tb/<stage>), and tb/ladder for the ladder itself."""
from __future__ import annotations

from pathlib import Path

import torch
from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams

from . import files
from .tables import decisions_markdown, diagnoses_markdown, stages_markdown
from .task import Picture

HIST_BINS = 64  # 4x cheaper than torch's default ("tensorflow", ~1500 edges) and plenty to read a shape


def run_name(stage) -> str:
    """First attempt: the stage's name; a retry after an insertion gets its own run."""
    return stage.name if stage.attempts <= 1 else f"{stage.name}@{stage.attempts}"


# written once per attempt before its training (the LR probe): kept by a restart from iteration 0,
# which does not probe again
PROBE_TAGS = ("probe/", "diagnoses/lr_probe", "diagnoses/lr_too_high")
# the hparams plugin's summaries carry no step (0): written at the stage's end, which a resumed stage redoes
HPARAMS_TAGS = ("_hparams_/",)
# logged for step N by step N + 1 (the health monitor's update ratio): a run resumed from a checkpoint at
# N writes them again
LATE_TAGS = ("health/update_ratio/",)


def open_run(path: Path, keep_through: int, keep_probe: bool = False) -> SummaryWriter:
    """A writer for the run at `path`, keeping only the events a resumed run must not write again.

    A killed run may have logged steps after its last checkpoint; the resumed run logs them anew.
    So the old event files are rewritten into one holding the events with step <= keep_through
    (once each, even if an earlier rewrite was itself interrupted), and then removed. The hparams
    summaries always go (the stage's end writes them again); the LR probe's stay when `keep_probe`.
    """
    old = sorted(path.glob("events.out.tfevents.*")) if path.exists() else []
    writer = SummaryWriter(path)
    if old:
        seen = set()
        for f in old:
            for event in LegacyEventFileLoader(str(f)).Load():  # raw events, as written
                if not event.HasField("summary"):
                    continue
                tags = [v.tag for v in event.summary.value]
                if any(t.startswith(HPARAMS_TAGS) for t in tags):
                    continue
                probe = keep_probe and tags and all(t.startswith(PROBE_TAGS) for t in tags)
                if event.step > keep_through and not probe:
                    continue
                if event.step == keep_through and any(t.startswith(LATE_TAGS) for t in tags):
                    continue
                key = (event.step, event.summary.SerializeToString())
                if key not in seen:
                    seen.add(key)
                    writer.file_writer.add_event(event, event.step, event.wall_time)
        writer.flush()
        for f in old:
            f.unlink()
    return writer


def panel(writer: SummaryWriter, tag: str, value, step: int) -> None:
    """Markdown as a text panel; a Picture as an image, its boxes drawn and labelled by TensorBoard."""
    if not isinstance(value, Picture):
        writer.add_text(tag, str(value), step)
    elif value.boxes is not None and len(value.boxes):
        writer.add_image_with_boxes(tag, value.pixels, value.boxes, step, labels=value.labels)
    else:
        writer.add_image(tag, value.pixels, step)


class TensorBoardSink:
    def __init__(self, root: Path, resume_step: int = 0):
        self.root = root
        self.writers: dict[str, SummaryWriter] = {}
        # decisions 1..resume_step are on record; the last one's picture is drawn again (engine.run does),
        # as a kill may have come between writing ladder.json and drawing it
        self.ladder = open_run(root / "ladder", keep_through=resume_step - 1)

    def stage_started(self, stage, start_iteration: int) -> None:
        # resuming from a checkpoint at step N: steps <= N were logged before it was saved
        keep = start_iteration if start_iteration else -1
        w = self.writers[stage.name] = open_run(files.inside(self.root, run_name(stage)), keep_through=keep,
                                                keep_probe=stage.lr_used is not None)
        if start_iteration == 0:
            knobs = ", ".join(f"{k}={v}" for k, v in stage.knobs.items())
            w.add_text("stage", f"**{stage.name}** knobs: {knobs}; goal: {stage.goal.metric} "
                       f"{'>=' if stage.goal.mode == 'max' else '<='} {stage.goal.target:g}; "
                       f"budget {stage.budget}", 0)

    def scalars(self, stage, iteration: int, values: dict) -> None:
        w = self.writers[stage.name]
        for tag, value in values.items():
            w.add_scalar(tag, value, iteration)

    def evaluated(self, stage, iteration: int, metrics: dict, samples) -> None:
        self.scalars(stage, iteration, metrics)
        for tag, value in (samples or {}).items():
            panel(self.writers[stage.name], tag, value, iteration)

    def histograms(self, stage, iteration: int, model) -> None:
        for name, p in model.named_parameters():
            self.histogram(stage, iteration, f"weights/{name}", p.detach())
            if p.grad is not None:
                self.histogram(stage, iteration, f"grads/{name}", p.grad.detach())

    def histogram(self, stage, iteration: int, tag: str, values) -> None:
        """A histogram of the finite values; non-finite ones are counted as `<tag>/nonfinite` instead
        (np.histogram raises on a NaN range: a NaN must never end the run that is diagnosing it)."""
        w = self.writers.get(stage.name)
        if w is None:
            return
        t = torch.as_tensor(values).detach().float().flatten().cpu()
        finite = torch.isfinite(t)
        bad = int(t.numel() - finite.sum())
        if bad:
            w.add_scalar(f"{tag}/nonfinite", bad, iteration)
            t = t[finite]
        if t.numel():
            w.add_histogram(tag, t, iteration, bins=HIST_BINS)

    def diagnosis(self, stage, d) -> None:
        w = self.writers[stage.name]
        applied = f"\n\nApplied: {d.applied}" if d.applied else ""
        evidence = ", ".join(f"{k}={v}" for k, v in d.evidence.items())
        w.add_text(f"diagnoses/{d.code}", f"**{d.severity}** `{d.code}` (iteration {d.iteration}): "
                   f"{d.message}\n\nEvidence: {evidence}\n\nFix: {d.fix}{applied}", d.iteration)

    def stage_finished(self, stage, outcome) -> None:
        w = self.writers.pop(stage.name)
        params = {f"knob/{k}": v if isinstance(v, (int, float, str, bool)) else str(v)
                  for k, v in stage.knobs.items()}
        params.update({"lr": float(stage.lr_used or 0.0), "budget": int(stage.budget or 0)})
        metric = {f"hparam/{stage.goal.metric}": float(outcome.best) if outcome.best is not None else float("nan"),
                  "hparam/iterations": float(outcome.iterations)}
        for summary in hparams(params, metric):
            w.file_writer.add_summary(summary)
        for tag, value in metric.items():
            w.add_scalar(tag, value, outcome.iterations)
        w.add_text("outcome", f"{stage.status}: {outcome.reason}", outcome.iterations)
        w.close()

    def decision(self, ladder, decisions: list) -> None:
        from .drawing import draw  # matplotlib loads on the first decision, not at start-up

        step = len(decisions)
        self.ladder.add_image("ladder", draw(ladder), step, dataformats="HWC")
        self.ladder.add_text("stages", stages_markdown(ladder), step)
        self.ladder.add_text("decisions", decisions_markdown(decisions), step)
        self.ladder.add_text("diagnoses", diagnoses_markdown(ladder), step)
        self.ladder.flush()

    def finished(self, ladder, status: str, run_dir, extra: dict, decisions: list) -> None:
        for title, value in extra.items():  # the task's closing sections (Problem.report_sections)
            panel(self.ladder, f"final/{title}", value, len(decisions))
        self.ladder.flush()

    def close(self) -> None:
        for w in self.writers.values():
            w.close()
        self.ladder.close()
