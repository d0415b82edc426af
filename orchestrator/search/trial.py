"""One trial: the searched stage trained from its warm start with the trial's settings.

Runs in a worker (a local process or a Ray task), so everything it needs travels in a TrialSpec and
everything it leaves goes under the run directory: its weights in search/<stage>/trial_<n>/final.pt and
its TensorBoard run in tb/<NN>_<stage>/trial_<n> (with the trial's hparams, for the HParams dashboard).
It re-uses the stage's own training: the same budget, goal, plateau rule and diagnostics.
"""
from __future__ import annotations

import dataclasses
import math
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from ..diagnosis import codes
from ..trainer import StopStage


@dataclass
class TrialSpec:
    number: int
    params: dict            # the trial's settings, e.g. {"optim.lr": 0.01, "optim.init_scale": 1.3}
    cfg: object             # RunConfig with the params applied
    stage: object           # a copy of the searched Stage (name, goal, knobs, budget)
    lr: float
    batch_size: int
    seed: int
    warm_start: Optional[str]  # the predecessor's final.pt, or None for fresh weights
    out_dir: str            # search/<stage>/trial_<n>
    tb_dir: str             # tb/<NN>_<stage>/trial_<n>
    journal: str            # the study's journal (every trial reports there; the pruner and the cap read it); "": alone
    study_name: str
    trial_id: int
    threads: int = 1        # torch threads: cores // parallel (oversubscribed threads cost up to 6x)
    inherited_findings: tuple = ()  # what the weights carry (Ladder.inherited_diagnoses), as the stage's own run
    device: str = "cpu"
    prune: bool = True      # search.prune: stop trials clearly behind the earlier ones (study.InOrderHalving)

    @property
    def inherited(self) -> tuple:
        """Their codes, as StageRun.inherited."""
        return codes(self.inherited_findings)


STARTED = "started"  # user attribute: the trial's worker has begun (it holds its resources)


class Pruned(StopStage):
    """Raised from the pruning monitor's on_eval: the trial is clearly behind the others."""


def run_trial(spec: TrialSpec) -> dict:
    """Train the trial; the result the driver records. Never raises: an error is a failed trial."""
    start = time.monotonic()
    torch.set_num_threads(max(1, spec.threads))
    result = {"number": spec.number, "params": spec.params, "status": "failed", "iterations": 0, "best": None,
              "lr": spec.lr, "budget": spec.stage.budget, "diagnoses": [], "reason": "", "seconds": 0.0}
    board = None
    try:
        from .board import TrialBoard
        board = TrialBoard(Path(spec.tb_dir))
        result.update(_train(spec, board))
    except Exception as e:  # noqa: BLE001 - a trial that crashes is one failed trial, not a failed run
        first = (str(e).strip().splitlines() or [""])[0]
        result.update(status="failed", error=f"{type(e).__name__}: {first}", reason=f"error: {first}",
                      traceback=traceback.format_exc()[-2000:])
    result["seconds"] = round(time.monotonic() - start, 2)
    if board is not None:
        board.finish(spec.params, result, spec.stage.goal.metric)
    return result


def _train(spec: TrialSpec, board) -> dict:
    from .. import checkpoint, diagnostics
    from ..layout import dict_batches
    from ..loading import instantiate_task
    from ..sinks import Sinks
    from ..stopping import evaluation_spacing
    from ..trainer import StageRun, TrainSettings, train

    cfg, stage = spec.cfg, dataclasses.replace(spec.stage, diagnoses=[], trials=None, status="running")
    task = instantiate_task(cfg.task, cfg.task_file)
    torch.manual_seed(spec.seed)
    problem = dict_batches(task.build(stage.knobs, spec.seed))
    if cfg.optim.init_scale != 1.0:  # as the engine's problem_builder does
        with torch.no_grad():
            for p in problem.model.parameters():
                p.mul_(cfg.optim.init_scale)
    initial = {k: v.detach().clone() for k, v in problem.model.state_dict().items()}
    if spec.warm_start:
        checkpoint.warm_start(problem.model, checkpoint.load(Path(spec.warm_start))["model"])
    settings = TrainSettings(
        budget=stage.budget, lr=spec.lr, batch_size=spec.batch_size, optim=cfg.optim, seed=spec.seed,
        eval_every=evaluation_spacing(stage.budget, cfg.ladder.eval_every, cfg.ladder.max_evals),
        patience=cfg.ladder.patience, min_delta=cfg.ladder.min_delta,
        log_every=cfg.log.every, histograms_every=0, checkpoint_secs=math.inf,  # a killed trial starts again
        device=spec.device)
    monitors = diagnostics.monitors_for(cfg, stage, problem)
    if spec.journal:  # a trial of a search (not one run alone, as benchmarks/search.py does)
        monitors.append(InOrder(spec))
    run = StageRun(stage=stage, problem=problem, settings=settings, sinks=Sinks([board]),
                   ckpt_dir=Path(spec.out_dir), monitors=monitors, initial_state=initial,
                   inherited_findings=spec.inherited_findings)
    try:
        outcome = train(run)
    except Pruned as p:
        return {"status": "pruned", "iterations": run.iteration, "best": run.best, "reason": str(p),
                "lr": run.base_lr, "diagnoses": _codes(stage)}
    # the budget on record: where an earlier trial's convergence ended this one, that point; else the stage's (what
    # it was cut to but did not reach depends on how far the earlier trials had got, when trials run at once)
    cut = not outcome.converged and outcome.iterations == settings.budget < stage.budget
    return {"status": "converged" if outcome.converged else "failed", "iterations": outcome.iterations,
            "best": outcome.best, "reason": outcome.reason, "lr": run.base_lr,
            "budget": settings.budget if cut else stage.budget, "diagnoses": _codes(stage)}


def _codes(stage) -> list:
    return sorted({d["code"] for d in stage.diagnoses})


class InOrder:
    """A monitor: the trial among the others of its search, as if they ran one after another (study.InOrderHalving).
    At each evaluation it reports the goal metric to the study and waits for the trials numbered before it to get
    as far (they started first, so they are ahead). Where one of them converged, its budget ends there: the winner
    is the trial that converges in the fewest iterations, so a slower one cannot win (and a setting that never
    converges stops there instead of spending the whole budget). Then, with `search.prune`, it raises Pruned when
    the pruner finds it clearly behind the earlier trials at the same evaluation."""

    def __init__(self, spec: TrialSpec):
        import optuna

        from .study import pruner, storage
        # the sampler samples nothing here: the trial's values were drawn by the parent
        self.study = optuna.load_study(study_name=spec.study_name, storage=storage(Path(spec.journal)),
                                       pruner=pruner(spec.prune), sampler=optuna.samplers.RandomSampler())
        self.trial, self.number, self.prune = optuna.trial.Trial(self.study, spec.trial_id), spec.number, spec.prune
        self.trial.set_user_attr(STARTED, True)  # a Ray driver submits the next trial only then (executors.py)
        self.evaluations = 0

    def on_eval(self, run, metrics: dict) -> None:
        from .study import RESULT, earlier_trials
        self.evaluations += 1
        value = float(metrics[run.stage.goal.metric])
        if not math.isfinite(value) or run.stage.goal.met(value):
            return  # the stage ends here anyway (not finite, or converged: no earlier trial converged sooner)
        self.trial.report(value, self.evaluations)
        earlier = earlier_trials(self.study, self.number, self.evaluations)
        converged = [r["iterations"] for r in (t.user_attrs.get(RESULT) for t in earlier)
                     if r and r["status"] == "converged"]
        run.settings.budget = min([run.settings.budget, *converged])
        if self.prune and self.trial.should_prune():
            raise Pruned(f"pruned at evaluation {self.evaluations} (iteration {run.iteration}): "
                         f"{run.stage.goal.metric} {value:.4g} is behind the earlier trials there")
