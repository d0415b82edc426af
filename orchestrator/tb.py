"""TensorBoard: one run per stage attempt (tb/<NN>_<stage>, NN its place in the run), and tb/ladder.

What a person sees at a glance: Custom Scalars' "ladder" charts put every stage's goal metric and
training loss on one cumulative iteration axis (`ladder/...` tags); HParams has one record per attempt
with the same columns for every stage; Images has the ladder drawn at each stage start and decision;
Text has one entry per diagnosis (in the stage's run) and per decision (in tb/ladder).
"""
from __future__ import annotations

import math
import re
import time
from pathlib import Path

import torch
from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader
from tensorboard.compat.proto.histogram_pb2 import HistogramProto
from tensorboard.compat.proto.summary_pb2 import Summary
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams

from . import crc, files
from .tables import cause_line, decision_markdown, diagnosis_markdown, stages_markdown
from .task import Picture

crc.install()  # TensorBoard's own checksums are pure Python: most of what an event costs the training loop

HIST_BINS = 64  # 4x cheaper than torch's default ("tensorflow", ~1500 edges) and plenty to read a shape
# histograms sort after train/ and val/ in TensorBoard's Time Series (tags are sorted by name)
HIST_PREFIX = "z_histograms/"
LADDER_PREFIX = "ladder/"  # the ladder-wide view: x is the iterations trained by the whole run so far
# the hparams table's metrics, the same for every stage so that one table compares them all
STATUS_CODE = {"converged": 1.0, "failed": 0.0}  # -1.0: failed, and the diagnostics found an error (a bug)


def run_name(stage, position: int | None = None) -> str:
    """`03_overfit_100`: the attempt's place in the run first, so TensorBoard lists runs in ladder order.

    A retried stage gets a run per attempt, each with its own place. Without a place (a sink used on its
    own, as in tests), the stage's name.
    """
    return stage.name if position is None else f"{position:02d}_{stage.name}"


def status_code(stage) -> float:
    if stage.status == "failed" and (stage.cause or {}).get("severity") == "error":
        return -1.0
    return STATUS_CODE.get(stage.status, float("nan"))


def ladder_layout(metric: str) -> dict:
    """Custom Scalars charts for one stage: the run's training loss and its goal metric (with the goal as a
    second line) on the ladder-wide axis. Every stage run writes its own; TensorBoard merges equal charts."""
    return {"ladder: every stage on one axis (x = iterations of the whole run)": {
        "train/loss, every stage": ["Multiline", [f"^{re.escape(LADDER_PREFIX)}train/loss$"]],
        f"{metric} (flat line: the goal)": ["Multiline", [f"^{re.escape(LADDER_PREFIX + metric)}(/goal)?$"]],
    }}


# written once per attempt before its training (the LR probe): kept by a restart from iteration 0,
# which does not probe again
PROBE_TAGS = ("probe/", "diagnoses/lr_probe", "diagnoses/lr_too_high")
# the hparams plugin's summaries carry no step (0): written at the stage's end, which a resumed stage redoes
HPARAMS_TAGS = ("_hparams_/",)
# logged for step N by step N + 1 (the health monitor's update ratio): a run resumed from a checkpoint at
# N writes them again
LATE_TAGS = ("health/update_ratio/",)


def open_run(path: Path, keep_through: int, keep_probe: bool = False, offset: int = 0) -> SummaryWriter:
    """A writer for the run at `path`, keeping only the events a resumed run must not write again.

    A killed run may have logged steps after its last checkpoint; the resumed run logs them anew.
    So the old event files are rewritten into one holding the events with step <= keep_through
    (once each, even if an earlier rewrite was itself interrupted), and then removed. The hparams
    summaries always go (the stage's end writes them again); the LR probe's stay when `keep_probe`.
    The ladder-wide tags are at step `offset` + iteration: they are kept through keep_through + offset.
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
                shift = offset if tags and all(t.startswith(LADDER_PREFIX) for t in tags) else 0
                if event.step - shift > keep_through and not probe:
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


def write_scalars(writer: SummaryWriter, values: dict, step: int, wall_time: float | None = None) -> None:
    """Every value of one step in one event. `add_scalar` writes an event per value, and each event costs
    ~70 us of the training loop's time (proto, queue, the writer thread): a stage logs ~10 values per
    evaluation (benchmarks/overhead.py). TensorBoard reads several values per event as it reads one.
    A value may be a ready Summary.Value (a histogram), written in the same event."""
    summary = Summary(value=[v if isinstance(v, Summary.Value) else Summary.Value(tag=tag, simple_value=float(v))
                             for tag, v in values.items()])
    writer._get_file_writer().add_summary(summary, step, wall_time)  # what add_scalar does, once per value


def histogram_value(tag: str, values: torch.Tensor, bins: int = HIST_BINS) -> Summary.Value:
    """A histogram of finite float values as TensorBoard reads it, counted by torch (~4x faster than
    torch.utils.tensorboard's numpy path, which the values would first be copied to). The same layout: the
    right edge of each bin, the empty bins at both ends dropped but one on the left (its edge is where the
    histogram starts)."""
    t = values.double()
    low, high, total, squares = torch.stack((t.min(), t.max(), t.sum(), t.dot(t))).tolist()
    lo, hi = (low - 0.5, high + 0.5) if low == high else (low, high)  # as numpy: one value spans [v - 0.5, v + 0.5]
    counts = torch.histc(t, bins, lo, hi).tolist()
    edges = torch.linspace(lo, hi, bins + 1, dtype=torch.float64).tolist()
    used = [k for k, c in enumerate(counts) if c > 0]
    start, end = used[0], used[-1] + 1
    kept = counts[start - 1:end] if start > 0 else [0.0] + counts[:end]
    proto = HistogramProto(min=low, max=high, num=t.numel(), sum=total, sum_squares=squares,
                           bucket_limit=edges[start:end + 1], bucket=kept)
    return Summary.Value(tag=tag, histo=proto)


class HeldScalars:
    """The scalars of a stage, held and written a few seconds' worth at a time, one event per step.

    Each event handed to the writer wakes its thread, which then competes with the training loop for the
    interpreter: an event per evaluation cost the digits stage ~2% of its time (benchmarks/overhead.py),
    written in bursts ~0%. Nothing is seen later for it: the writer flushes its file every two minutes
    anyway (SummaryWriter's flush_secs), and each point keeps the wall time it was logged at."""

    HOLD_SECS = 5.0

    def __init__(self, writer: SummaryWriter):
        self.writer, self.steps, self.written = writer, {}, time.monotonic()

    def add(self, iteration: int, values: dict, step: int | None = None) -> None:
        """`values` logged at `iteration`, at `step` of their axis (the ladder-wide one) if not `iteration`;
        the axes apart, so that each event is of one axis (a resumed run keeps events by their axis' step)."""
        key = (iteration, False) if step is None else (step, True)
        if key not in self.steps:
            self.steps[key] = ({}, time.time())
        self.steps[key][0].update(values)

    def release(self, force: bool = True) -> None:
        """Write what is held: now, or (not forced) once HOLD_SECS have passed since the last write."""
        if not force and time.monotonic() - self.written < self.HOLD_SECS:
            return
        for (step, _), (values, wall_time) in self.steps.items():
            write_scalars(self.writer, values, step, wall_time)
        self.steps, self.written = {}, time.monotonic()


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
        self.held: dict[str, HeldScalars] = {}  # stage -> its scalars not written yet
        self.places: dict[str, int] = {}     # stage -> its attempt's place in the run (stage_placed)
        self.offsets: dict[str, int] = {}    # stage -> iterations the run trained before this attempt
        self.batch_sizes: dict[str, int] = {}
        self.fresh: dict[str, bool] = {}     # stage -> this attempt starts at iteration 0 (not resumed)
        # the ladder run's steps: 2k-1 when the k-th attempt starts, 2k at the k-th decision. Decisions
        # 1..resume_step are on record; the last one's picture is drawn again (engine.run does), as a kill
        # may have come between writing ladder.json and drawing it
        self.ladder = open_run(root / "ladder", keep_through=2 * resume_step - 1)

    def stage_placed(self, ladder, stage, position: int, offset: int) -> None:
        """The k-th attempt of the run starts after `offset` iterations: the ladder drawn with it running."""
        from .drawing import draw  # matplotlib loads on the first stage, not at start-up

        self.places[stage.name], self.offsets[stage.name] = position, offset
        self.ladder.add_image("ladder", draw(ladder), 2 * position - 1, dataformats="HWC")
        self.ladder.flush()

    def stage_started(self, stage, start_iteration: int) -> None:
        # resuming from a checkpoint at step N: steps <= N were logged before it was saved
        keep = start_iteration if start_iteration else -1
        name = run_name(stage, self.places.get(stage.name))
        w = self.writers[stage.name] = open_run(files.inside(self.root, name), keep_through=keep,
                                                keep_probe=stage.lr_used is not None,
                                                offset=self.offsets.get(stage.name, 0))
        self.held[stage.name] = HeldScalars(w)
        self.fresh[stage.name] = start_iteration == 0
        if start_iteration == 0:
            knobs = ", ".join(f"{k}={v}" for k, v in stage.knobs.items())
            inserted = " (inserted)" if stage.inserted else ""
            w.add_text("stage", f"**{stage.name}**{inserted}, attempt {stage.attempts}; knobs: {knobs}; goal: "
                       f"{stage.goal.metric} {'>=' if stage.goal.mode == 'max' else '<='} {stage.goal.target:g}; "
                       f"budget {stage.budget}; starts at iteration {self.offsets.get(stage.name, 0)} of the run", 0)
            w.add_custom_scalars(ladder_layout(stage.goal.metric))

    def stage_ready(self, stage, problem, settings) -> None:
        """The problem is built: what the model will be fed, shown once per attempt."""
        self.batch_sizes[stage.name] = min(settings.batch_size, problem.train_size)
        self.before_checkpoint(stage, 0)  # the LR probe's plots: a resumed stage keeps them and does not probe again
        if self.fresh.get(stage.name) and stage.name in self.writers:
            from .show import look
            text, images = look(problem)
            self.writers[stage.name].add_text("data/training_batch", text, 0)
            if images is not None:
                self.writers[stage.name].add_images("data/training_batch", images, 0, dataformats="NCHW")

    def scalars(self, stage, iteration: int, values: dict) -> None:
        held = self.held[stage.name]
        held.add(iteration, values)
        if "train/loss" in values and stage.name in self.offsets:
            held.add(iteration, {LADDER_PREFIX + "train/loss": values["train/loss"]},
                     self.offsets[stage.name] + iteration)

    def evaluated(self, stage, iteration: int, metrics: dict, samples) -> None:
        self.scalars(stage, iteration, metrics)
        metric = stage.goal.metric
        if metric in metrics and metric != "train/loss" and stage.name in self.offsets:
            goal = {LADDER_PREFIX + metric: metrics[metric], LADDER_PREFIX + metric + "/goal": stage.goal.target}
            self.held[stage.name].add(iteration, goal, self.offsets[stage.name] + iteration)
        self.held[stage.name].release(force=False)
        for tag, value in (samples or {}).items():
            panel(self.writers[stage.name], tag, value, iteration)

    def before_checkpoint(self, stage, iteration: int) -> None:
        """A resumed run keeps the events through its checkpoint and does not log them again: on disk first."""
        if stage.name in self.held:
            self.held[stage.name].release()
            self.writers[stage.name].flush()

    def histograms(self, stage, iteration: int, model) -> None:
        for name, p in model.named_parameters():
            self.histogram(stage, iteration, f"weights/{name}", p.detach())
            if p.grad is not None:
                self.histogram(stage, iteration, f"grads/{name}", p.grad.detach())

    def histogram(self, stage, iteration: int, tag: str, values) -> None:
        """A histogram of the finite values under HIST_PREFIX; non-finite ones are counted as the scalar
        `<tag>/nonfinite` instead (np.histogram raises on a NaN range: a NaN must never end the run that is
        diagnosing it)."""
        w = self.writers.get(stage.name)
        if w is None:
            return
        t = torch.as_tensor(values).detach().float().flatten().cpu()
        finite = torch.isfinite(t)
        bad = int(t.numel() - finite.sum())
        if bad:
            w.add_scalar(f"{tag}/nonfinite", bad, iteration)
            t = t[finite]
        if t.numel():  # with the step's scalars, in one event
            self.held[stage.name].add(iteration, {HIST_PREFIX + tag: histogram_value(HIST_PREFIX + tag, t)})

    def diagnosis(self, stage, d) -> None:
        """One text entry per diagnosis, in its stage's run, when it is found."""
        # a stage between attempts (a search that ended on a resume) has no open run: the ladder's run shows it
        w = self.writers.get(stage.name)
        tag = f"diagnoses/{d.code}" if w is not None else f"diagnoses/{stage.name}/{d.code}"
        (w or self.ladder).add_text(tag, diagnosis_markdown(stage.name, d.to_dict()), d.iteration)

    def stage_finished(self, stage, outcome) -> None:
        w = self.writers.pop(stage.name)
        self.held.pop(stage.name).release()
        params = {f"knob/{k}": v if isinstance(v, (int, float, str, bool)) else str(v)
                  for k, v in stage.knobs.items()}
        # few columns: the dashboard shows the first five (by name) at first; the run's name says the stage
        params.update({"lr": float(stage.lr_used or 0.0), "batch_size": int(self.batch_sizes.get(stage.name, 0))})
        best = outcome.best if outcome.best is not None and math.isfinite(outcome.best) else float("nan")
        metric = {"hparam/goal_value": float(best), "hparam/goal_met": float(outcome.converged),
                  "hparam/iterations": float(outcome.iterations), "hparam/status": status_code(stage)}
        for summary in hparams(params, metric):
            w.file_writer.add_summary(summary)
        for tag, value in metric.items():
            w.add_scalar(tag, value, outcome.iterations)
        w.add_text("outcome", f"**{stage.status}** after {outcome.iterations} iterations: {outcome.reason}",
                   outcome.iterations)
        w.close()

    def decision(self, ladder, decisions: list) -> None:
        """The k-th decision: the ladder drawn again, the decision itself, and a failed stage's cause."""
        from .drawing import draw

        step = 2 * len(decisions)
        d = decisions[-1]
        self.ladder.add_image("ladder", draw(ladder), step, dataformats="HWC")
        self.ladder.add_text("decisions", f"Decision {len(decisions)}: {decision_markdown(d)}", step)
        judged = ladder.stages.get(d["stage"])
        if judged is not None and (judged.status == "failed" or judged.cause):
            self.ladder.add_text("diagnoses", cause_line(judged), step)
        self.ladder.flush()

    def finished(self, ladder, status: str, run_dir, extra: dict, decisions: list) -> None:
        """The final table of stages, once (the images show the ladder as it went), and the task's closing
        sections (Problem.report_sections)."""
        self.ladder.add_text("stages", f"**ladder {status}**\n\n{stages_markdown(ladder)}", 2 * len(decisions))
        for title, value in extra.items():
            panel(self.ladder, f"final/{title}", value, 2 * len(decisions))
        self.ladder.flush()

    def close(self) -> None:
        for held in self.held.values():
            held.release()
        for w in self.writers.values():
            w.close()
        self.ladder.close()
