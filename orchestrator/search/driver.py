"""The search of one stage: ask trials, run them `search.parallel` at a time, record them, pick the winner."""
from __future__ import annotations

import dataclasses
import shutil
import sys
import zlib
from pathlib import Path
from typing import Optional

from .. import checkpoint, files
from ..config import ResourcesConfig, SearchConfig
from ..diagnosis import Diagnosis, record
from ..errors import ConfigError
from ..ladder import CONVERGED, FAILED, RUNNING, Stage
from ..policy import Decision, Outcome, decide
from . import executors, space, table
from .trial import TrialSpec

EXECUTORS, SAMPLERS = ("local", "ray"), ("random", "tpe")
LR_CAUSES = ("lr_too_low", "lr_too_high")  # a stage failed for these is searched over its LR alone
STAGE_KEYS = {f.name for f in dataclasses.fields(SearchConfig)} - {"stage"}


def settings(cfg, stage: Stage) -> SearchConfig:
    """The run's search.* settings with the stage's own `search:` on top."""
    own = dict(stage.search or {})
    if isinstance(own.get("resources"), dict):
        own["resources"] = ResourcesConfig(**{**dataclasses.asdict(cfg.search.resources), **own["resources"]})
    return dataclasses.replace(cfg.search, **own)


def validate(cfg) -> None:
    where = cfg.task_file
    checks = [("search", cfg.search)]
    for name, s in cfg.ladder.stages.items():
        if s.search is not None:
            unknown = sorted(set(s.search) - STAGE_KEYS)
            if unknown:
                raise ConfigError(f"unknown search setting {unknown[0]!r} (expected {', '.join(sorted(STAGE_KEYS))})",
                                  key=f"ladder.stages.{name}.search.{unknown[0]}", where=where)
            try:
                merged = settings(cfg, Stage(name, None, {}, search=dict(s.search)))
            except TypeError as e:
                raise ConfigError(str(e), key=f"ladder.stages.{name}.search", where=where) from None
            checks.append((f"ladder.stages.{name}.search", merged))
    for key, s in checks:
        def need(ok: bool, sub: str, rule: str, value) -> None:
            if not ok:
                raise ConfigError(f"must be {rule}, got {value!r}", key=f"{key}.{sub}", where=where)
        need(isinstance(s.trials, int) and s.trials >= 0, "trials", ">= 0 (0: never search)", s.trials)
        need(isinstance(s.parallel, int) and s.parallel >= 0, "parallel", ">= 0 (0: one trial per core)", s.parallel)
        need(isinstance(s.give_up, int) and s.give_up >= 0, "give_up", ">= 0 (0: run every trial)", s.give_up)
        need(s.executor in EXECUTORS, "executor", " or ".join(EXECUTORS), s.executor)
        need(s.sampler in SAMPLERS, "sampler", " or ".join(SAMPLERS), s.sampler)
        need(s.resources.cpus > 0, "resources.cpus", "> 0", s.resources.cpus)
        need(s.resources.gpus >= 0, "resources.gpus", ">= 0", s.resources.gpus)
        space.parse(s.space, where, key=f"{key}.space")
        if s.executor == "ray":
            try:
                import ray  # noqa: F401
            except ImportError:
                raise ConfigError("needs Ray, which is not installed: pip install -e .[ray]", key=f"{key}.executor",
                                  where=where) from None
    if cfg.search.stage is not None and cfg.search.stage not in cfg.ladder.stages:
        raise ConfigError(f"unknown stage {cfg.search.stage!r} (the ladder's stages: {', '.join(cfg.ladder.stages)})",
                          key="search.stage", where=where)


def run(ctx, stage: Stage, decision: Decision, iterations: int) -> tuple[Outcome, Decision]:
    """Apply a `search` decision: record it, search the stage, and judge the stage on the search's outcome.
    `iterations`: what the judged attempt trained (every decision records its attempt's)."""
    ctx.record.add(decision, iterations)
    stage.trials, stage.status = [], RUNNING
    ctx.record.write(ctx.ladder)
    ctx.sinks.decision(ctx.ladder, ctx.record.decisions)
    outcome = _search(ctx, stage)
    return outcome, decide(ctx.ladder, stage, outcome, ctx.knobs, ctx.cfg.ladder.max_insertions, ctx.cfg.search,
                           ctx.cfg.ladder.stop_on_bug)


def resume(ctx, stage: Stage) -> Optional[Outcome]:
    """Before a stage runs: what earlier searches chose is in force again (a resumed run), and a search a
    kill interrupted continues (its finished trials are not run again). None: train the stage as usual."""
    if not getattr(ctx, "search_settings_restored", False):
        for s in ctx.ladder.order():
            if s.trials and s.status == CONVERGED:
                _carry(ctx, s, _winner(s, s.trials))
        ctx.search_settings_restored = True
    if stage.trials is None or stage.status != RUNNING:
        return None
    return _search(ctx, stage)


def _search(ctx, stage: Stage) -> Outcome:
    from . import study as studies  # optuna loads when a search starts, not with the engine
    cfg, run_dir = ctx.cfg, ctx.run_dir
    s = settings(cfg, stage)
    lr = stage.lr_used or stage.lr or cfg.optim.lr
    source = ctx.ladder.warm_start_source(stage)
    dims = space.parse(s.space, cfg.task_file) or default_space(ctx.ladder, stage, lr, source)
    folder = files.inside(run_dir, "search", stage.name)
    name = f"{stage.name}@{stage.attempts}"
    study = studies.open_study(folder / "study.journal", name, s.sampler, cfg.seed, stage.goal.mode, s.prune)
    for number in studies.requeue_interrupted(study):  # what a kill left half-written goes; the trial runs again
        for leftover in (folder / f"trial_{number:03d}", _tb_dir(ctx, stage, number)):
            shutil.rmtree(leftover, ignore_errors=True)
    done = {t.number: t.user_attrs[studies.RESULT] for t in studies.finished(study)}
    stage.trials = sorted(done.values(), key=lambda t: t["number"])
    ctx.record.write(ctx.ladder)
    warm = str(files.inside(run_dir, "checkpoints", source, "final.pt")) if source else None
    shown = Live(stage, s.trials, live=cfg.log.console)
    executor = executors.make(s, s.trials - len(done)) if len(done) < s.trials else None
    shown.note(f"search {stage.name}: {s.trials} trials, {executor.parallel if executor else s.parallel} at a time "
               f"({s.executor}), {s.sampler} over " + "; ".join(d.describe() for d in dims))
    pending: dict = {}

    def wanted() -> bool:  # another trial to start: some left, none converged already at its first evaluation, and
        # the first `give_up` trials did not all fail (trials after them wait until they are all in, as one after
        # another they would)
        started = len(done) + len(pending)
        first_in = sum(1 for n in done if n < s.give_up) >= s.give_up
        return started < s.trials and _unbeatable(cfg, done.values()) is None and \
            (not s.give_up or started < s.give_up or first_in) and not _hopeless(done.values(), s.give_up)
    try:
        while wanted() or pending:
            while len(pending) < executor.parallel and wanted():
                trial = study.ask()
                params = {d.key: d.suggest(trial) for d in dims}
                spec = _spec(ctx, stage, s, trial, params, lr, warm, folder, executor.threads, name)
                handle = executor.submit(spec)
                pending[handle] = trial
                executor.wait_started(handle, study, trial.number)
            for handle, result in executor.wait(list(pending)):
                trial = pending.pop(handle)
                if _after_unbeatable(cfg, done.values(), trial.number):  # one after one, it would not have run
                    studies.discard(study, trial)
                    for leftover in (folder / f"trial_{trial.number:03d}", _tb_dir(ctx, stage, trial.number)):
                        shutil.rmtree(leftover, ignore_errors=True)
                    continue
                studies.tell(study, trial, result)
                done[result["number"]] = result
                stage.trials = sorted(done.values(), key=lambda t: t["number"])
                ctx.record.write(ctx.ladder)  # a kill from here on does not run this trial again
                shown.update(stage.trials, result)
    finally:
        if executor is not None:
            executor.close()
        shown.close(stage.trials)
    if len(done) < s.trials and _unbeatable(cfg, done.values()) is not None:
        shown.note(f"search {stage.name}: stopped after {len(done)} of {s.trials} trials: a trial converged at its "
                   "first evaluation, in fewer iterations than any other trial can")
    elif len(done) < s.trials and _hopeless(done.values(), s.give_up):
        shown.note(f"search {stage.name}: stopped after {len(done)} of {s.trials} trials: none converged, so the "
                   "settings searched are not what holds the stage back (search.give_up=0 runs them all)")
    outcome = _finish(ctx, stage, folder)
    shown.note(outcome.reason)
    return outcome


def default_space(ladder, stage: Stage, lr: float, warm_from: Optional[str]) -> list:
    """The LR around the probe's threshold, and the init scale only for a stage trained from fresh weights: a warm
    start replaces the scaled weights with its predecessor's, so the scale would change nothing but the trial's
    draw (holdout25's caesar/gru_bias_5 searched its inserted stage over both: the init scale was noise); and not
    when the diagnostics name the LR alone (see space.default)."""
    init = warm_from is None and (stage.cause or {}).get("code") not in LR_CAUSES
    return space.default(probe_threshold(ladder, stage), lr, init=init)


def _unbeatable(cfg, done) -> Optional[int]:
    """The first trial that converged at the first evaluation a trial can have (ladder.eval_every iterations), or
    None: the winner is the trial that converges in the fewest, so the trials after it could only tie it, and
    the search ends (lm/lr_1e-7 of benchmarks/bugsuite: 12 of its 16 trials, ~2 s each, came after one that
    converged at 50)."""
    return min((t["number"] for t in done if t["status"] == "converged" and t["iterations"] <= cfg.ladder.eval_every),
               default=None)


def _hopeless(done, give_up: int) -> bool:
    """`give_up` trials or more finished and none converged: the settings searched are not what holds the stage back
    (a bug, data that cannot be learnt), and the trials left would cost as much again before the ladder says so. Of
    182 searches of 12 or more trials in the held-out suites' runs, 120 converged in none, 50 first converged within
    their first 4 trials and 12 only after their 7th, all on bug runs (tuned around the bug at best): giving up
    after 8 halves the wasted ones (holdout45's sortword/source_cut_at_7: 16 trials, 127 s, none converged)."""
    first = [t for t in done if t["number"] < give_up]  # by number: trials run at once end as one after another
    return bool(give_up) and len(first) >= give_up and not any(t["status"] == "converged" for t in first)


def _after_unbeatable(cfg, done, number: int) -> bool:
    """A trial numbered after an unbeatable one: run alongside it, it is left out, as one after another it would
    never have started (each trial's budget ends where an earlier one converged: see trial.InOrder)."""
    first = _unbeatable(cfg, done)
    return first is not None and number > first


def _spec(ctx, stage, s, trial, params, lr, warm, folder, threads, name) -> TrialSpec:
    cfg = space.apply(ctx.cfg, params)
    return TrialSpec(
        number=trial.number, params=params, cfg=cfg,
        stage=dataclasses.replace(stage, diagnoses=[], trials=None, cause=None),
        lr=params.get("optim.lr", lr),
        batch_size=params.get("optim.batch_size", stage.batch_size or cfg.optim.batch_size),
        seed=zlib.crc32(f"{ctx.cfg.seed}:{stage.name}:trial{trial.number}".encode()) % 2**31, warm_start=warm,
        out_dir=str(folder / f"trial_{trial.number:03d}"),
        tb_dir=str(_tb_dir(ctx, stage, trial.number)),
        journal=str(folder / "study.journal"), prune=s.prune, study_name=name, trial_id=trial._trial_id,
        threads=threads, device=_device(ctx.cfg.device), inherited_findings=ctx.ladder.inherited_diagnoses(stage))


def _tb_dir(ctx, stage: Stage, number: int) -> Path:
    """tb/<NN>_<stage>/trial_<n>: under the run of the attempt whose failure started the search (NN: its
    place in the run, as the TensorBoard sink names runs), so the trials list right after it."""
    searches = [i for i, d in enumerate(ctx.record.decisions) if d["stage"] == stage.name and d["kind"] == "search"]
    place = (searches[-1] if searches else len(ctx.record.decisions)) + 1
    return files.inside(ctx.run_dir, "tb", f"{place:02d}_{stage.name}", f"trial_{number:03d}")


def _device(name: str) -> str:
    from ..engine import device
    return device(name)


def _finish(ctx, stage: Stage, folder: Path) -> Outcome:
    """The winner becomes the stage's result; its settings carry forward to later stages."""
    trials = stage.trials
    winner = _winner(stage, trials)
    converged = [t for t in trials if t["status"] == "converged"]
    if winner is None:
        stage.status = FAILED
        return Outcome(False, 0, None, f"search: none of {len(trials)} trials trained")
    weights = folder / f"trial_{winner['number']:03d}" / "final.pt"
    if weights.exists():
        checkpoint.save(checkpoint.load(weights), files.inside(ctx.run_dir, "checkpoints", stage.name, "final.pt"))
    stage.iterations, stage.best = winner["iterations"], winner["best"]
    settings_text = ", ".join(f"{k}={_num(v)}" for k, v in winner["params"].items())
    if converged:
        stage.status = CONVERGED
        _carry(ctx, stage, winner)
        reason = (f"search: trial {winner['number']} ({settings_text}) converged in {winner['iterations']} "
                  f"iterations, the fewest of the {len(converged)} of {len(trials)} trials that converged; "
                  "its settings carry forward")
        # a fix the orchestrator applied: what goes wrong under these settings later may be their doing, and
        # the ranking puts such symptoms below the ones seen before (diagnostics/ranking.py)
        record(stage, ctx.sinks, Diagnosis(
            "tuned", "info", f"the search's settings carry forward to later stages: {settings_text} (trial "
            f"{winner['number']}, {len(converged)} of {len(trials)} trials converged)",
            iteration=winner["iterations"], evidence={"params": dict(winner["params"]), "trials": len(trials),
                                                      "converged": len(converged)},
            fix="set these in your config to train with them from the start", applied=settings_text))
    else:
        stage.status = FAILED
        reason = (f"search: none of {len(trials)} trials converged; the best, trial {winner['number']} "
                  f"({settings_text}), reached {stage.goal.metric} {_num(winner['best'])}")
    ctx.record.write(ctx.ladder)
    return Outcome(stage.status == CONVERGED, stage.iterations, stage.best, reason)


def _winner(stage: Stage, trials: list) -> Optional[dict]:
    """Converged in the fewest iterations (ties: the better goal value), else the best goal value."""
    sign = -1 if stage.goal.mode == "max" else 1
    converged = [t for t in trials if t["status"] == "converged"]
    if converged:
        return min(converged, key=lambda t: (t["iterations"], sign * t["best"]))
    scored = [t for t in trials if t["best"] is not None and t["best"] == t["best"]]
    return min(scored, key=lambda t: sign * t["best"]) if scored else None


def _carry(ctx, stage: Stage, winner: dict) -> None:
    """The winner's LR becomes the stage's (later stages inherit it, as a probed LR); its other settings
    apply to every later stage (a task.* setting rebuilds the task: warm starts need its architecture)."""
    from ..loading import instantiate_task
    stage.lr_used = winner["lr"]
    others = {k: v for k, v in winner["params"].items() if k != "optim.lr"}
    if others:
        ctx.cfg = space.apply(ctx.cfg, others)
    if any(k.startswith("task.") for k in others):
        ctx.task = instantiate_task(ctx.cfg.task, ctx.cfg.task_file)


def probe_threshold(ladder, stage: Stage) -> Optional[float]:
    """The NaN threshold the LR probe found: on this stage, else its nearest ancestor, else any stage."""
    evidence = ladder.probe_evidence(stage)
    return float(evidence["threshold"]) if evidence else None


class Live:
    """The console's view of a search: a live table on a terminal, one line per trial otherwise."""

    def __init__(self, stage: Stage, total: int, live: bool):
        from rich.console import Console
        self.stage, self.total, self.enabled = stage, total, live
        self.console = Console(highlight=False, soft_wrap=not sys.stdout.isatty(),
                               width=None if sys.stdout.isatty() else 140)
        self.live = None
        if live and sys.stdout.isatty():
            from rich.live import Live as RichLive
            self.live = RichLive(table.console_table(stage, list(stage.trials or []), total), console=self.console)
            self.live.start()

    def note(self, text: str) -> None:
        if self.enabled:
            self.console.print(text, markup=False)

    def update(self, trials: list, result: dict) -> None:
        if self.live is not None:
            self.live.update(table.console_table(self.stage, trials, self.total))
        elif self.enabled:
            params = ", ".join(f"{k}={_num(v)}" for k, v in result["params"].items())
            self.console.print(f"trial {result['number']} ({params}): {result['status']} after "
                               f"{result['iterations']} iterations, best {_num(result['best'])} "
                               f"[{result['seconds']:.1f}s]{' ' + result['error'] if result.get('error') else ''}",
                               markup=False)

    def close(self, trials: list) -> None:
        if self.live is not None:
            self.live.stop()
        elif self.enabled and trials:
            self.console.print(table.console_table(self.stage, trials, self.total))


def _num(v) -> str:
    if v is None:
        return "–"
    return f"{v:.4g}" if isinstance(v, float) else str(v)
