"""The ladder loop: pick the next stage, train it, judge it, decide, record, repeat."""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from . import checkpoint, diagnostics, record
from .config import RunConfig
from .console import ConsoleSink
from .diagnosis import Diagnosis
from .errors import ConfigError
from .ladder import CONVERGED, FAILED, RUNNING, Ladder, Stage, from_config
from .policy import INSERT, STOP, Decision, Outcome, budget_for, decide
from .report import ReportSink
from .sinks import Sinks
from .tables import translations_markdown
from .tb import TensorBoardSink
from .trainer import StageRun, TrainSettings, train

EXIT_CODES = {record.CONVERGED: 0, record.STALLED: 3}


@dataclass
class Context:
    """What every stage of one run shares."""

    cfg: RunConfig
    task: Any
    knobs: dict
    ladder: Ladder
    record: record.Record
    sinks: Sinks
    run_dir: Path


def run(cfg: RunConfig, task: Any, run_dir: Path, task_name: str, live: bool = True) -> str:
    """Run (or resume) the ladder in run_dir. Returns "converged" or "stalled"."""
    ladder, knobs = from_config(cfg.ladder.stages, cfg.knobs, (*task.metrics, "train/loss"), where=cfg.task_file)
    validate(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    rec = record.Record(run_dir / "ladder.json", task_name, cfg.seed)
    previous = record.load(rec.path) if cfg.resume else None
    if previous:  # resume: the saved ladder (with its inserted stages) replaces the configured one
        ladder, rec.decisions = record.ladder_from(previous), previous["decisions"]
        if previous["status"] != record.RUNNING:  # finished already: nothing to train again
            return previous["status"]
    sinks = Sinks([TensorBoardSink(run_dir / "tb", resume_step=len(rec.decisions)),
                   ConsoleSink(live=live and cfg.log.console), ReportSink(run_dir / "report.md", task_name)])
    ctx = Context(cfg, task, knobs, ladder, rec, sinks, run_dir)
    try:
        while True:
            # the next stage whose predecessors all converged
            stage = ladder.next_runnable()
            if stage is None:
                break
            # train it (or finish the attempt an interrupted run left)
            outcome = run_stage(ctx, stage)
            # judge it, and apply the decision: the only place the ladder changes
            decision = decide(ladder, stage, outcome, knobs, cfg.ladder.max_insertions)
            apply(ladder, decision)
            rec.add(decision)
            rec.write(ladder)
            sinks.decision(ladder, rec.decisions)
            if decision.kind == STOP:
                break
        rec.status = record.CONVERGED if ladder.all_converged() else record.STALLED
        rec.write(ladder)
        sinks.finished(ladder, rec.status, run_dir, final_sections(ctx), rec.decisions)
    finally:
        sinks.close()
    return rec.status


def run_stage(ctx: Context, stage: Stage) -> Outcome:
    cfg, ladder = ctx.cfg, ctx.ladder
    ckpt_dir = ctx.run_dir / "checkpoints" / stage.name
    resume_state = None
    if stage.status == RUNNING:  # this attempt was interrupted: continue it
        saved = checkpoint.load(ckpt_dir / "last.pt")
        resume_state = saved if saved and saved["attempt"] == stage.attempts else None
    else:
        stage.attempts += 1
        stage.status, stage.iterations = RUNNING, 0
        stage.budget = budget_for(stage, ladder, cfg.ladder.budget, cfg.ladder.growth, cfg.ladder.min_budget)
    ctx.record.write(ladder)
    start = resume_state["iteration"] if resume_state else 0
    ctx.sinks.stage_started(stage, start)

    # the problem at this stage's knobs; the LR (probed on fresh weights if asked)
    seed = zlib.crc32(f"{cfg.seed}:{stage.name}:{stage.attempts}".encode()) % 2**31
    build = problem_builder(ctx, seed)
    # a stage without its own LR trains at its predecessor's (which the LR probe may have lowered)
    inherited = ladder[stage.after[0]].lr_used if stage.after else None
    settings = TrainSettings(
        budget=stage.budget, lr=stage.lr or inherited or cfg.optim.lr,
        batch_size=stage.batch_size or cfg.optim.batch_size,
        optim=cfg.optim, seed=seed, eval_every=cfg.ladder.eval_every, patience=cfg.ladder.patience,
        min_delta=cfg.ladder.min_delta, log_every=cfg.log.every, histograms_every=cfg.log.histograms_every,
        checkpoint_secs=cfg.log.checkpoint_secs, device=device(cfg.device))
    if stage.lr_used is None:
        stage.lr_used = diagnostics.before_stage(cfg, stage, build, settings, ctx.sinks) or settings.lr
        ctx.record.write(ladder)
    settings.lr = stage.lr_used
    problem = build(stage.knobs)
    run = StageRun(stage=stage, problem=problem, settings=settings, sinks=ctx.sinks, ckpt_dir=ckpt_dir,
                   monitors=diagnostics.monitors_for(cfg, stage, problem),
                   initial_state={k: v.detach().clone() for k, v in problem.model.state_dict().items()})

    # warm start: the same network, a harder problem
    source = stage.warm_start_source()
    if source and resume_state is None:
        weights = checkpoint.load(ctx.run_dir / "checkpoints" / source / "final.pt")["model"]
        report = checkpoint.warm_start(problem.model, weights)
        if report["wrong_shape"] or report["missing"]:
            run.diagnose(Diagnosis(
                "warm_start_partial", "info", f"warm-started {report['loaded']} of {report['total']} tensors "
                f"from {source}; the rest keep fresh weights", evidence=report,
                fix="expected when the architecture changes between stages; otherwise check the knobs"))

    outcome = train(run, resume_state)
    stage.iterations, stage.best = outcome.iterations, outcome.best
    stage.status = CONVERGED if outcome.converged else FAILED
    if not outcome.converged:
        for d in diagnostics.after_failure(cfg, run, outcome):
            run.diagnose(d)
        stage.cause = diagnostics.most_likely_cause(ladder, stage)
    ctx.sinks.stage_finished(stage, outcome)
    return outcome


def problem_builder(ctx: Context, seed: int):
    """build(knobs) -> a Problem with fresh weights; the same seed gives the same weights and data."""
    def build(knobs):
        torch.manual_seed(seed)
        problem = ctx.task.build(knobs, seed)
        if ctx.cfg.optim.init_scale != 1.0:
            with torch.no_grad():
                for p in problem.model.parameters():
                    p.mul_(ctx.cfg.optim.init_scale)
        return problem
    return build


def apply(ladder: Ladder, decision: Decision) -> None:
    if decision.kind == INSERT:
        ladder.insert_between(decision.after, decision.stage, decision.new_stage, decision.knobs)


def final_sections(ctx: Context) -> dict:
    """Extra report sections a task offers, computed with the last converged stage's weights."""
    last = [s for s in ctx.ladder.order() if s.status == CONVERGED]
    if not last:
        return {}
    stage = last[-1]
    problem = problem_builder(ctx, 0)(stage.knobs)
    show = problem.extras.get("test_translations")
    if not show:
        return {}
    problem.model.load_state_dict(checkpoint.load(ctx.run_dir / "checkpoints" / stage.name / "final.pt")["model"])
    problem.model.eval()
    with torch.no_grad():
        rows = show(problem.model)
    return {f"Test translations ({stage.name})": translations_markdown(rows)}


def device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def validate(cfg: RunConfig) -> None:
    where = cfg.task_file
    for key in ("budget", "min_budget", "eval_every"):
        if getattr(cfg.ladder, key) <= 0:
            raise ConfigError(f"must be > 0, got {getattr(cfg.ladder, key)}", key=f"ladder.{key}", where=where)
    if cfg.ladder.growth <= 0:
        raise ConfigError(f"must be > 0, got {cfg.ladder.growth}", key="ladder.growth", where=where)
    if cfg.optim.lr <= 0:
        raise ConfigError(f"must be > 0, got {cfg.optim.lr}", key="optim.lr", where=where)
    if cfg.log.every <= 0:
        raise ConfigError(f"must be > 0, got {cfg.log.every}", key="log.every", where=where)
    if hasattr(diagnostics, "validate"):
        diagnostics.validate(cfg)


def exit_code(status: str) -> int:
    return EXIT_CODES.get(status, 1)

