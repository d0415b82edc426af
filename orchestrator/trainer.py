"""Train one stage until its goal is met, it plateaus, or its budget is spent."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Protocol

import torch
from torch import nn

from . import checkpoint
from .config import OptimConfig
from .diagnosis import Diagnosis, codes, record
from .ladder import Stage
from .data import batches_for
from .optim import make_optimizer
from .policy import Outcome
from .precision import Precision
from .sampler import Sampler
from .schedule import make_scheduler, step_decay
from .stopping import Progress, asked_to_stop, budget_spent, first_reason, goal_reached, not_finite, plateaued
from .task import Problem, same_sequence


@dataclass
class TrainSettings:
    budget: int
    lr: float
    batch_size: int
    optim: OptimConfig
    seed: int
    eval_every: int = 50
    patience: int = 20
    min_delta: float = 1e-4
    log_every: int = 10
    histograms_every: int = 0  # as LogConfig: per-parameter histograms only when asked
    checkpoint_secs: float = 10.0   # at most one mid-stage checkpoint per this many seconds
    device: str = "cpu"
    precision: str = "32"           # "32", "bf16" or "16-mixed" (see orchestrator/precision.py)


class StopStage(Exception):
    """What a monitor raises to end the stage on purpose (the search's pruner); any other error of a monitor
    only stops that monitor."""


class Monitor(Protocol):
    """A diagnostic watching the training (see orchestrator/diagnostics). All hooks optional."""

    def on_start(self, run: "StageRun") -> None: ...
    def after_backward(self, run: "StageRun", loss) -> None: ...  # the step's loss, as step_value gives it
    def on_eval(self, run: "StageRun", metrics: dict) -> None: ...
    def on_end(self, run: "StageRun", outcome: Outcome) -> None: ...
    def close(self) -> None: ...  # release what it attached to the model (forward hooks) when dropped


@dataclass
class StageRun:
    """The state of one attempt at one stage; what a checkpoint holds and monitors look at."""

    stage: Stage
    problem: Problem
    settings: TrainSettings
    sinks: Any                          # orchestrator.sinks.Sinks
    ckpt_dir: Path
    monitors: list = field(default_factory=list)
    model: nn.Module = None
    optimizer: torch.optim.Optimizer = None
    sampler: Sampler = None             # or data.DatasetBatches when the task gave a Dataset
    scheduler: Any = None               # optim.scheduler, when set
    precision: Precision = None
    iteration: int = 0
    best: Optional[float] = None
    evals_since_best: int = 0
    lr: float = 0.0                     # the LR now
    base_lr: float = 0.0                # the LR before decay (diagnostics may lower it)
    clip_norm: Optional[float] = None   # diagnostics may switch clipping on mid-stage
    last_metrics: dict = field(default_factory=dict)
    initial_state: Optional[dict] = None  # the model as the task built it (before a warm start): "fresh" weights
    inherited_findings: tuple = ()      # warnings/errors of the stages whose weights this one started from
    probe: Optional[dict] = None        # the LR probe's evidence that holds for this stage (its NaN threshold)
    # symptoms seen while training (dead units, gradient spikes) that become warnings when the stage fails: held
    # here, when a list, for whoever runs the failure checks to judge after them (engine.run_stage); None: at once
    deferred: Optional[list] = None
    # a monitor's request to end the stage at its next evaluation, with the reason (a named fault that more
    # iterations at the same settings cannot fix): judged there like a plateau, so the ladder decides what next
    stop: Optional[str] = None
    # the problem of the stage this one builds up to, built on demand (fresh weights, more examples): for the checks
    # that need more examples than a small stage holds (a 10-example stage memorises real and wrong targets alike)
    wider: Optional[Callable[[], Problem]] = None

    @property
    def inherited(self) -> tuple:
        """The codes of inherited_findings, each once."""
        return codes(self.inherited_findings)

    def epoch(self) -> float:
        return self.iteration * self.sampler.batch_size / self.sampler.size

    def diagnose(self, diagnosis) -> None:
        record(self.stage, self.sinks, diagnosis, self.iteration)

    def set_lr(self, lr: float) -> None:
        self.lr = lr
        for group in self.optimizer.param_groups:
            group["lr"] = lr


def train(run: StageRun, resume: Optional[dict] = None) -> Outcome:
    s, stage, problem = run.settings, run.stage, run.problem
    model = run.model = problem.model.to(s.device)
    if next(model.parameters(), None) is None:  # no optimizer can be built, and nothing would train
        return _no_parameters(run)
    run.optimizer = make_optimizer(model.parameters(), s.optim, s.lr)
    run.sampler = batches_for(problem, s.batch_size, seed=s.seed)
    run.scheduler = make_scheduler(run.optimizer, s.optim.scheduler)
    run.precision = Precision(s.precision, s.device)
    run.lr = run.base_lr = s.lr
    run.clip_norm = s.optim.clip_norm
    if resume:
        _restore(run, resume)
    checks = [goal_reached(stage.goal), not_finite, asked_to_stop(run), plateaued(s.patience), budget_spent]
    decay = s.optim.decay
    last_save = time.monotonic()
    step_losses = []  # since the last log point, on the device: no host sync per step
    hooks = {name: [getattr(m, name) for m in run.monitors if hasattr(m, name)]
             for name in ("on_start", "after_backward", "on_eval", "on_end")}
    call(run, hooks, "on_start")
    model.train()
    while True:
        # one optimisation step
        batch = to_device(run.sampler.next_batch(problem), s.device)
        with run.precision.autocast():
            loss = problem.loss(model, batch)
        run.optimizer.zero_grad(set_to_none=True)
        if loss.requires_grad:  # else no weight reaches the loss (all frozen, detached): nothing trains, and
            run.precision.backward(loss)  # params_not_updating says why, instead of a traceback
        # a float16 overflow is the gradient scaler's normal working (it skips the step and lowers its
        # scale): the checks see that step without gradients rather than blame the model
        if run.precision.unscale(run.optimizer):
            run.optimizer.zero_grad(set_to_none=True)  # the scaler has recorded the skip already
        loss = step_value(loss)
        step_losses.append(loss)
        if hooks["after_backward"]:
            call(run, hooks, "after_backward", loss)
        if run.clip_norm:
            nn.utils.clip_grad_norm_(model.parameters(), run.clip_norm)
        run.precision.step(run.optimizer)
        run.iteration += 1

        # LR decay by epochs (a pure function of the position, so resuming needs no state)
        if decay.after is not None:
            lr = step_decay(run.base_lr, run.epoch(), decay.after, decay.every, decay.factor)
            if lr != run.lr:
                run.set_lr(lr)
        if run.scheduler is not None:  # the user's scheduler, per iteration, on top of the step decay
            run.scheduler.step()
            run.lr = run.optimizer.param_groups[0]["lr"]

        # log the training curve (at every evaluation too, so short stages have one)
        it = run.iteration
        evaluating = it % s.eval_every == 0 or it >= s.budget
        if it % s.log_every == 0 or evaluating:
            loss_mean, norm = window_means(step_losses, model)
            run.sinks.scalars(stage, it, {"train/loss": loss_mean, "lr": run.lr, "grad_norm": norm})
            step_losses = []
        if s.histograms_every and it % s.histograms_every == 0:
            run.sinks.histograms(stage, it, model)

        # evaluate and judge
        if evaluating:
            metrics = evaluate(run)
            value = metrics[stage.goal.metric]
            if stage.goal.better(value, run.best, s.min_delta):
                run.best, run.evals_since_best = value, 0
            else:
                run.evals_since_best += 1
            call(run, hooks, "on_eval", metrics)
            progress = Progress(it, s.budget, stage.goal.metric, value, run.best, run.evals_since_best)
            reason = first_reason(checks, progress)
            if reason:
                outcome = Outcome(converged=stage.goal.met(value), iterations=it, best=run.best, reason=reason)
                break
            if time.monotonic() - last_save >= s.checkpoint_secs:
                run.sinks.before_checkpoint(stage, it)  # what was logged through `it` goes to disk first
                checkpoint.save(_state(run), run.ckpt_dir / "last.pt")
                last_save = time.monotonic()
            model.train()

    # the stage is over: its final histograms, and its weights for the stages that warm-start from it
    call(run, hooks, "on_end", outcome)
    if s.histograms_every and run.iteration % s.histograms_every:
        run.sinks.histograms(stage, run.iteration, model)
    if hasattr(run.sampler, "close"):
        run.sampler.close()  # a DataLoader's workers
    checkpoint.save({"model": model.state_dict(), "iteration": run.iteration}, run.ckpt_dir / "final.pt")
    return outcome


def _no_parameters(run: StageRun) -> Outcome:
    """A model without a single parameter (its layers in a plain list or dict, which nn.Module does not register):
    a bug to name, not a traceback from the optimizer."""
    kind = type(run.model).__name__
    run.diagnose(Diagnosis(
        "params_not_updating", "error", f"the model ({kind}) has no parameters at all, so nothing can train: "
        "layers held in a plain Python list or dict are not registered as its sub-modules",
        evidence={"parameters": 0, "model": kind},
        fix="hold sub-modules in nn.ModuleList / nn.ModuleDict (or as attributes) so that model.parameters() "
            "finds them"))
    return Outcome(converged=False, iterations=0, best=None, reason=f"the model ({kind}) has no parameters")


def call(run: StageRun, hooks: dict, name: str, *args) -> None:
    """The monitors' `name` hooks, in order (a try costs nothing until something raises)."""
    for hook in hooks[name]:
        try:
            hook(run, *args)
        except StopStage:
            raise
        except Exception as e:  # noqa: BLE001 - a check must never end the training it watches
            drop(run, hooks, hook, e)


def drop(run: StageRun, hooks: dict, hook, error: Exception) -> None:
    """A monitor that raised stops watching this stage (all its hooks), and says so as `check_skipped`: a
    model the check did not foresee (a nested tensor, an odd output) must not cost the user the run."""
    import traceback
    monitor = getattr(hook, "__self__", hook)
    for name, calls in hooks.items():
        hooks[name] = [h for h in calls if getattr(h, "__self__", h) is not monitor]
    try:
        getattr(monitor, "close", lambda: None)()
    except Exception:  # noqa: BLE001
        pass
    where = traceback.extract_tb(error.__traceback__)[-1]
    check = type(monitor).__name__
    run.diagnose(Diagnosis(
        "check_skipped", "info", f"{check} stopped watching this stage at iteration {run.iteration}: "
        f"{type(error).__name__}: {error}", evidence={"check": check, "error": f"{type(error).__name__}: {error}",
                                                       "where": f"{where.filename}:{where.lineno}"},
        fix="the stage trains on without it; please report the error with the model's type"))


def optimisation_step(model: nn.Module, optimizer, problem: Problem, batch: Any,
                      clip_norm: Optional[float] = None) -> torch.Tensor:
    """One step outside the stage's own loop (the LR probe, the failure checks); the detached loss."""
    loss = problem.loss(model, batch)
    optimizer.zero_grad(set_to_none=True)
    if loss.requires_grad:
        loss.backward()
    if clip_norm:
        nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    optimizer.step()
    return loss.detach()


def evaluate(run: StageRun) -> dict:
    run.model.eval()
    with torch.no_grad():
        metrics = dict(run.problem.evaluate(run.model))
    samples = run.problem.samples(run.model) if run.problem.samples else None
    run.last_metrics = metrics
    run.sinks.evaluated(run.stage, run.iteration, metrics, samples)
    return metrics


def window_means(losses: list, model: nn.Module) -> tuple[float, float]:
    """The mean of the losses since the last log point and the global gradient norm now, in one host read."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    values = read_floats(losses + (list(torch._foreach_norm(grads)) if grads else []))
    n = len(losses)
    return sum(values[:n]) / max(n, 1), global_norm(values[n:])


def global_norm(norms: list) -> float:
    """The norm of all the gradients together, from their per-tensor norms (Python floats: double precision, so
    that a norm near float32's range does not square past it)."""
    return math.sqrt(sum(v * v for v in norms))


def step_value(loss: torch.Tensor):
    """A step's loss as kept until the next log point: a Python float on the CPU, where reading it costs nothing and
    no tensor is made per step (benchmarks/overhead.py's default-logging row: 1.07 before, 1.05 after, within its
    noise); a detached tensor on an accelerator, read with the rest of the window (a read per step would sync)."""
    if loss.is_cpu and loss.numel() == 1:
        return loss.item()
    return loss.detach()


def read_floats(tensors: list) -> list:
    """Scalar device tensors as Python floats, with one stack and one host read (~0.5 us a value; a read per value
    costs a sync each): losses of shape () or (1,), norms in any float dtype. Tensors on several devices (a model
    split over GPUs) are read one at a time. Python numbers among them (step_value's CPU losses) pass as they are."""
    if not tensors:
        return []
    if not all(isinstance(t, torch.Tensor) for t in tensors):
        read = iter(read_floats([t for t in tensors if isinstance(t, torch.Tensor)]))
        return [next(read) if isinstance(t, torch.Tensor) else float(t) for t in tensors]
    try:
        return torch.stack(tensors).double().reshape(-1).tolist()
    except RuntimeError:  # shapes () and (1,) together; or several devices
        pass
    try:
        return torch.stack([t.reshape(()) for t in tensors]).double().tolist()
    except RuntimeError:
        return [float(t) for t in tensors]


def to_device(batch: Any, device: str) -> Any:
    if device == "cpu":
        return batch
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        return same_sequence(batch, [to_device(b, device) for b in batch])
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch


def _state(run: StageRun) -> dict:
    return {"model": run.model.state_dict(), "optimizer": run.optimizer.state_dict(),
            "sampler": run.sampler.state_dict(), "rng": torch.get_rng_state(),
            "iteration": run.iteration, "best": run.best, "evals_since_best": run.evals_since_best,
            "lr": run.lr, "base_lr": run.base_lr, "clip_norm": run.clip_norm, "attempt": run.stage.attempts,
            "monitors": {type(m).__name__: m.state_dict() for m in run.monitors if hasattr(m, "state_dict")},
            "diagnoses": len(run.stage.diagnoses),  # found so far: a resume drops those found after this point
            "scheduler": run.scheduler.state_dict() if run.scheduler is not None else None,
            "scaler": run.precision.state_dict(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.device(run.settings.device).type == "cuda" else None}


def _restore(run: StageRun, state: dict) -> None:
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.sampler.load_state_dict(state["sampler"])
    torch.set_rng_state(state["rng"])
    run.iteration, run.best, run.evals_since_best = state["iteration"], state["best"], state["evals_since_best"]
    run.set_lr(state["lr"])
    run.base_lr = state["base_lr"]
    run.clip_norm = state["clip_norm"]
    if run.scheduler is not None and state.get("scheduler"):
        run.scheduler.load_state_dict(state["scheduler"])
        run.lr = run.optimizer.param_groups[0]["lr"]
    run.precision.load_state_dict(state.get("scaler") or {})
    if state.get("cuda_rng") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    for m in run.monitors:
        if hasattr(m, "load_state_dict") and type(m).__name__ in state.get("monitors", {}):
            m.load_state_dict(state["monitors"][type(m).__name__])

