"""The ladder loop: pick the next stage, train it, judge it, decide, record, repeat."""
from __future__ import annotations

import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from . import checkpoint, diagnostics, files, mixing, record, search, taskerror, usersinks
from .config import RunConfig
from .console import ConsoleSink
from .diagnosis import Diagnosis
from .errors import ConfigError, RunStateError
from .ladder import CONVERGED, FAILED, PENDING, RUNNING, SKIPPED, Ladder, Stage, from_config
from .layout import dict_batches
from .lock import RunLock
from .policy import FALLBACK, INSERT, RETRY, SEARCH, SKIP, STOP, Decision, Outcome, before_training, budget_for, decide
from .report import ReportSink
from .sinks import Sinks
from .stopping import evaluation_spacing
from .tables import stalled_on
from .tb import TensorBoardSink
from .trainer import StageRun, TrainSettings, train
from .validation import check_device, validate  # noqa: F401  (torch-free: the entry point checks before importing torch)

EXIT_CODES = {record.CONVERGED: 0, record.STALLED: 3}
RESUME_KEYS = {"model", "optimizer", "sampler", "rng", "iteration", "attempt"}  # what trainer._restore reads


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


def prepare(cfg: RunConfig, task: Any) -> tuple[Ladder, dict]:
    """Every check of the config, the ladder and each stage's problem: nothing is written before it passes."""
    ladder, knobs = from_config(cfg.ladder.stages, cfg.knobs, (*task.metrics, "train/loss"), where=cfg.task_file)
    validate(cfg)
    search.validate(cfg)
    build_each_stage(cfg, task, ladder)
    return ladder, knobs


def run(cfg: RunConfig, task: Any, run_dir: Path, task_name: str, live: bool = True,
        prepared: Optional[tuple] = None, on_start: Optional[Callable[[], None]] = None) -> str:
    """Run (or resume) the ladder in run_dir. Returns "converged" or "stalled".

    `prepared`: what `prepare` returned (else it runs here); `on_start`: called once this process
    holds the run directory's lock, before training (the entry point saves the config there).
    """
    ladder, knobs = prepared or prepare(cfg, task)
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = RunLock(run_dir).acquire()  # a second run in this directory stops here, having written nothing
    try:
        return _run(cfg, task, run_dir, task_name, live, ladder, knobs, on_start)
    finally:
        lock.release()


def _run(cfg, task, run_dir, task_name, live, ladder, knobs, on_start) -> str:
    rec = record.Record(run_dir / "ladder.json", task_name, cfg.seed)
    previous = record.load(rec.path) if cfg.resume else None
    if previous:  # resume: the saved ladder (with its inserted stages) replaces the configured one
        ladder, rec.decisions = record.ladder_from(previous, rec.path), previous["decisions"]
        if previous["status"] != record.RUNNING:  # finished already: nothing to train again
            return previous["status"]
    check_warm_starts(ladder, run_dir)  # a missing final.pt stops a resumed run before anything is touched
    if on_start:
        on_start()
    sinks = Sinks([TensorBoardSink(files.inside(run_dir, "tb"), resume_step=len(rec.decisions)),
                   ConsoleSink(live=live and cfg.log.console), ReportSink(run_dir / "report.md", task_name)])
    ctx = Context(cfg, task, knobs, ladder, rec, sinks, run_dir)
    sinks.sinks.append(SaveOnDiagnosis(ctx))
    sinks.sinks.extend(usersinks.build(cfg.log.sinks, run_dir))  # the user's own (log.sinks)
    if rec.decisions:  # resumed: the last decision's picture and tables, which a kill may have kept from the sinks
        for sink in sinks.sinks:
            if isinstance(sink, (TensorBoardSink, ReportSink)):
                sink.decision(ladder, rec.decisions)
    try:
        while True:
            # the next stage whose predecessors all converged
            stage = ladder.next_runnable()
            if stage is None:
                break
            # a fallback stage no failure called yet is passed over
            decision, outcome = before_training(ladder, stage), None
            if decision is None:
                # train it (or finish the attempt, or the search, an interrupted run left)
                outcome = search.resume(ctx, stage) or run_stage(ctx, stage)
                # judge it, and apply the decision: the only place the ladder changes
                decision = decide(ladder, stage, outcome, knobs, cfg.ladder.max_insertions, cfg.search,
                                  cfg.ladder.stop_on_bug)
                if decision.kind == STOP and outcome.converged:  # met its goal on a bug: the bug is its cause line
                    stage.cause = diagnostics.most_likely_cause(ladder, stage)
            if decision.kind == SEARCH:  # trials of the stage's settings (orchestrator/search), then judged again
                outcome, decision = search.run(ctx, stage, decision, outcome.iterations)
            apply(ladder, decision)
            rec.add(decision, outcome.iterations if outcome else 0)
            rec.write(ladder)
            sinks.decision(ladder, rec.decisions)
            if decision.kind == STOP:
                break
        # every stage met its goal, and none stopped the ladder on a bug (even the last: a goal met on a bug says
        # nothing about the model, exit 3 as for any stalled run)
        rec.status = record.CONVERGED if ladder.all_converged() and not stalled_on(ladder) else record.STALLED
        rec.write(ladder)
        sinks.finished(ladder, rec.status, run_dir, final_sections(ctx), rec.decisions)
    except ConfigError:  # a file of the run directory is unusable: ladder.json holds every change already
        _close_quietly(sinks)
        raise
    except BaseException:
        # whatever stopped the run (a bug, a fault, Ctrl-C): ladder.json keeps every diagnosis found so
        # far, with status "running" so that the same command resumes
        try:
            rec.write(ladder)
        except Exception:
            pass  # e.g. the disk is full: the previous ladder.json stays, which is also a valid state
        _close_quietly(sinks)
        raise
    sinks.close()
    return rec.status


class SaveOnDiagnosis:
    """A sink: ladder.json is rewritten as soon as a diagnosis is found, so that a kill cannot lose it.

    A resumed stage drops the diagnoses found after its checkpoint (run_stage): it finds them again.
    """

    def __init__(self, ctx: Context):
        self.ctx = ctx

    def diagnosis(self, stage, d) -> None:
        self.ctx.record.write(self.ctx.ladder)


def _close_quietly(sinks: Sinks) -> None:
    try:
        sinks.close()
    except Exception:
        pass  # the error that stopped the run is the one to report


def check_warm_starts(ladder: Ladder, run_dir: Path) -> None:
    """Each final.pt a stage still to train will warm-start from: present and readable (RunStateError if not)."""
    for stage in ladder.order():
        source = ladder.warm_start_source(stage)
        if stage.status != CONVERGED and source and ladder[source].status == CONVERGED:
            warm_start_weights(files.inside(run_dir, "checkpoints", source, "final.pt"), source, stage)


def run_stage(ctx: Context, stage: Stage) -> Outcome:
    cfg, ladder = ctx.cfg, ctx.ladder
    ckpt_dir = files.inside(ctx.run_dir, "checkpoints", stage.name)
    resume_state = None
    restarting = stage.status == RUNNING
    if restarting:  # this attempt was interrupted: continue it
        saved = resumable(ckpt_dir / "last.pt")
        resume_state = saved if saved and saved["attempt"] == stage.attempts else None
    # warm start: the same network, a harder problem. Read before the stage changes: a missing file
    # stops the run with ladder.json as it was
    source = ladder.warm_start_source(stage)
    weights = None
    if source and resume_state is None:
        weights = warm_start_weights(files.inside(ctx.run_dir, "checkpoints", source, "final.pt"), source, stage)
    if stage.status != RUNNING:
        stage.attempts += 1
        stage.status, stage.iterations, stage.cause = RUNNING, 0, None  # an earlier attempt's cause is history
        stage.budget = budget_for(stage, ladder, cfg.ladder.budget, cfg.ladder.growth, cfg.ladder.min_budget)
    ctx.record.write(ladder)
    start = resume_state["iteration"] if resume_state else 0
    trained = sum(d.get("iterations", 0) for d in ctx.record.decisions)  # by the run so far: the ladder-wide axis
    ctx.sinks.stage_placed(ladder, stage, len(ctx.record.decisions) + 1, trained)
    ctx.sinks.stage_started(stage, start)

    # the problem at this stage's knobs; the LR (probed on fresh weights if asked)
    seed = zlib.crc32(f"{cfg.seed}:{stage.name}:{stage.attempts}".encode()) % 2**31
    build = problem_builder(ctx, seed)
    # a stage without its own LR trains at its predecessor's (which the LR probe may have lowered)
    ran_before = ladder.through_skipped(stage.after)
    lr_before = ladder[ran_before[0]].lr_used if ran_before else None
    settings = TrainSettings(
        budget=stage.budget, lr=stage.lr if stage.lr is not None else lr_before or cfg.optim.lr,
        batch_size=stage.batch_size if stage.batch_size is not None else cfg.optim.batch_size,
        optim=cfg.optim, seed=seed, patience=cfg.ladder.patience,
        eval_every=evaluation_spacing(stage.budget, cfg.ladder.eval_every, cfg.ladder.max_evals),
        min_delta=cfg.ladder.min_delta, log_every=cfg.log.every, histograms_every=cfg.log.histograms_every,
        checkpoint_secs=cfg.log.checkpoint_secs, device=device(cfg.device),
        precision=cfg.precision)
    if stage.lr_used is None:
        stage.lr_used = diagnostics.before_stage(cfg, stage, build, settings, ctx.sinks) or settings.lr
        ctx.record.write(ladder)
    settings.lr = stage.lr_used
    # the diagnoses this attempt's training found after the point it resumes from are found again: drop them
    if resume_state is not None:
        del stage.diagnoses[resume_state.get("diagnoses", len(stage.diagnoses)):]
    elif restarting and stage.diagnoses_at_start is not None:
        del stage.diagnoses[stage.diagnoses_at_start:]
    else:
        stage.diagnoses_at_start = len(stage.diagnoses)  # earlier attempts' and the LR probe's
    ctx.record.write(ladder)
    problem = build(stage.knobs)
    problem = mixing.mixed_problem(ladder, stage, problem, build, seed)  # `mix:` replays earlier stages' problems
    ctx.sinks.stage_ready(stage, problem, settings)
    run = StageRun(stage=stage, problem=problem, settings=settings, sinks=ctx.sinks, ckpt_dir=ckpt_dir,
                   monitors=diagnostics.monitors_for(cfg, stage, problem),
                   initial_state={k: v.detach().clone() for k, v in problem.model.state_dict().items()},
                   inherited_findings=ladder.inherited_diagnoses(stage),  # () on fresh weights; the same on a resume
                   probe=ladder.probe_evidence(stage), deferred=[], wider=wider_problem(ladder, stage, build))

    if weights is not None:
        report = checkpoint.warm_start(problem.model, weights)
        if report["wrong_shape"] or report["missing"]:
            run.diagnose(Diagnosis(
                "warm_start_partial", "info", f"warm-started {report['loaded']} of {report['total']} tensors "
                f"from {source}; the rest keep fresh weights", evidence=report,
                fix="expected when the architecture changes between stages; otherwise check the knobs"))

    try:
        outcome = train(run, resume_state)
    except Exception as e:  # the task's own code raising is the user's bug: named, and the same command resumes
        where = taskerror.user_frame(e)
        if where is None:
            raise  # the orchestrator's own: a crash (crash.log, exit 1)
        raise taskerror.task_failed(run, e, where) from e
    stage.iterations, stage.best = outcome.iterations, outcome.best
    stage.status = CONVERGED if outcome.converged else FAILED
    if not outcome.converged:
        diagnostics.judge_failure(cfg, run, outcome)
        stage.cause = diagnostics.most_likely_cause(ladder, stage)
    else:  # a goal met at an LR far too low: said, though it trained
        diagnostics.judge_success(cfg, run, outcome)
    ctx.sinks.stage_finished(stage, outcome)
    return outcome


def wider_problem(ladder: Ladder, stage: Stage, build):
    """The problem of the stage `stage` builds up to (the ladder's top), built when a failure check asks (None:
    `stage` is the top)."""
    harder = ladder.hardest_after(stage.name)
    if harder is None:
        return None
    made: dict = {}

    def wider():
        # built once however many failure checks ask (the checks train copies of its model), and the random state
        # left as a fresh build leaves it (the build seeds it), so that what the checks draw after it stays the same
        if not made:
            made["problem"], made["rng"] = build(harder.knobs), torch.get_rng_state()
        torch.set_rng_state(made["rng"])
        return made["problem"]
    return wider


def problem_builder(ctx: Context, seed: int):
    """build(knobs) -> a Problem with fresh weights; the same seed gives the same weights and data."""
    def build(knobs):
        torch.manual_seed(seed)
        problem = dict_batches(ctx.task.build(knobs, seed))
        if ctx.cfg.optim.init_scale != 1.0:
            with torch.no_grad():
                for p in problem.model.parameters():
                    p.mul_(ctx.cfg.optim.init_scale)
        return problem
    return build


def apply(ladder: Ladder, decision: Decision) -> None:
    if decision.kind == INSERT:
        ladder.insert_between(decision.after, decision.stage, decision.new_stage, decision.knobs)
    elif decision.kind == RETRY:  # trained again at the new LR, which stays theirs (and inserted stages' before them)
        for name in decision.restart:
            stage = ladder[name]
            if decision.lr is not None:
                stage.lr = stage.lr_used = decision.lr
            if stage.status == CONVERGED:
                stage.status = PENDING
        if decision.batch_size is not None:  # the judged stage and those after it, unless they set their own
            for name in [decision.stage, *ladder.after_stage(decision.stage)]:
                if name == decision.stage or ladder[name].batch_size is None:
                    ladder[name].batch_size = decision.batch_size
    elif decision.kind == SKIP:
        ladder[decision.stage].status = SKIPPED
    elif decision.kind == FALLBACK:  # the skipped stages train now, then the failed one again
        for name in decision.restart:
            ladder[name].status, ladder[name].called = PENDING, True


def final_sections(ctx: Context) -> dict:
    """The task's closing sections (Problem.report_sections), computed with the last converged stage's weights."""
    last = [s for s in ctx.ladder.order() if s.status == CONVERGED]
    if not last:
        return {}
    stage = last[-1]
    problem = problem_builder(ctx, 0)(stage.knobs)
    if problem.report_sections is None:
        return {}
    problem.model.load_state_dict(warm_start_weights(files.inside(ctx.run_dir, "checkpoints", stage.name, "final.pt"),
                                                     stage.name, None))
    problem.model.eval()
    with torch.no_grad():
        sections = problem.report_sections(problem.model)
    return {f"{title} ({stage.name})": value for title, value in sections.items()}


def resumable(path: Path) -> Optional[dict]:
    """The interrupted attempt's checkpoint, or None: an unreadable one restarts the attempt (with a note)."""
    try:
        saved = checkpoint.load(path)
        if saved is not None and not (isinstance(saved, dict) and RESUME_KEYS <= set(saved)):
            raise RunStateError("not a checkpoint of an interrupted stage", where=str(path))
        return saved
    except RunStateError as e:
        print(f"note: {e.line()}; restarting this stage's attempt from iteration 0", file=sys.stderr)
        return None


def warm_start_weights(path: Path, source: str, stage: Optional[Stage]) -> dict:
    """final.pt of a converged stage. Missing or unreadable: an error naming it (its stage is not retrained:
    the ladder's decisions rest on it; restore the file, or start the run afresh in a new directory)."""
    need = f"stage {stage.name!r} warm-starts from it" if stage else "the report's last section needs it"
    saved = checkpoint.load(path)  # RunStateError for an unreadable file
    if saved is None:
        raise RunStateError(f"missing, but {need} (restore it, or start afresh in a new hydra.run.dir)",
                            where=str(path))
    if not isinstance(saved, dict) or not isinstance(saved.get("model"), dict):
        raise RunStateError(f"holds no model weights, but {need}", where=str(path))
    return saved["model"]


def device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def build_each_stage(cfg: RunConfig, task: Any, ladder: Ladder) -> None:
    """Build every stage's problem once, so that e.g. a corpus too small for a stage's knobs is found now.

    Cheap next to training (no step is taken); the RNG is restored, so results do not change.
    """
    rng = torch.get_rng_state()
    try:
        for stage in ladder.order():
            try:
                task.build(stage.knobs, 0)
            except ConfigError as e:
                key = f"ladder.stages.{stage.name}.{e.key}" if e.key.startswith("knobs") else e.key
                data = (cfg.task or {}).get("data_path") if isinstance(cfg.task, dict) else None
                message = e.message + (f" (in the corpus {data})" if data and not e.where else "")
                raise ConfigError(f"stage {stage.name!r}: {message}", key=key, where=e.where or cfg.task_file) from None
            except Exception as e:
                first = (str(e).strip().splitlines() or [""])[0]
                raise ConfigError(f"the task cannot build this stage: {type(e).__name__}: {first}",
                                  key=f"ladder.stages.{stage.name}.knobs", where=cfg.task_file) from None
    finally:
        torch.set_rng_state(rng)


def exit_code(status: str) -> int:
    return EXIT_CODES.get(status, 1)

