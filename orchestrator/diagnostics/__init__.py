"""Diagnostics: the debugging method's advice as checks that name the bug.

The engine calls these functions, and nothing else of this package:
- `validate(cfg)`: at startup; ConfigError for a bad `diagnostics.*` value or `optim.decay` with k <= n
- `before_stage(cfg, stage, build, settings, sinks)`: the data checks (input scale, the loss of fresh
  weights), then the LR probe; returns the LR to train at (or None)
- `monitors_for(cfg, stage, problem)`: Monitors watching a stage's training (see trainer.Monitor)
- `judge_failure(cfg, run, outcome)`: a failed stage's checks that separate a bug from a hard problem
  (`after_failure` returns them), then the symptoms held while it trained
- `judge_success(cfg, run, outcome)`: a stage that met its goal at an LR far below the probe's NaN threshold
- `most_likely_cause(ladder, stage)`: a failed stage's diagnoses ranked by evidence (ranking.py)

Each check family lives in its own module; docs/diagnostics.md lists every code and threshold.
Codes: lr_too_high, lr_probe, nonfinite, unstable_softmax, division_by_zero, log_of_zero,
exploding_gradients, vanishing_gradients, dead_units, saturated_units, input_scale, bad_init_loss,
params_not_updating, batch_dependence, labels_not_learnable, overfit_batch_size_1, lr_too_low, leakage,
trivial_labels, loss_floor, loss_unbounded, loss_mismatch, symmetric_units, random_eval, check_skipped,
tuned (info, recorded by orchestrator/search), task_error (recorded by the engine: orchestrator/taskerror.py).
"""
from __future__ import annotations

from typing import Any, Callable, Optional

# Only the config at import time: orchestrator/config.py imports DiagnosticsConfig from here, so the
# checks (which import the trainer and optimizers) load on first use.
from .config import DiagnosticsConfig, ProbeConfig, of, validate  # noqa: F401


def monitors_for(cfg: Any, stage, problem) -> list:
    from .failure import StartRecord
    from .health import HealthMonitor
    from .nonfinite import NonFiniteCheck
    from .spikes import SpikeCheck
    from .stepstats import StepStats
    d = of(cfg)
    if not d.enabled:
        return []
    monitors: list = []
    consumers: list = []
    spikes = SpikeCheck(d.spikes) if d.spikes.enabled else None
    if d.nonfinite.enabled:  # first: a falling loss is the root of the spikes and NaNs the same window shows
        from .unbounded import UnboundedLoss
        consumers.append(UnboundedLoss(d.nonfinite))
    if spikes is not None:
        from .tightclip import TightClip
        consumers += [spikes, TightClip(d.spikes, spikes)]  # (in this order: it reads the spikes' norms)
    if d.nonfinite.enabled:
        consumers.append(NonFiniteCheck(d.nonfinite, spikes))
    if d.failure.enabled:  # for failure.loss_mismatch: the losses' ends and the task's training measures
        from .mismatch import LossAndMeasure
        consumers.append(LossAndMeasure())
    if consumers:
        monitors.append(StepStats(consumers, d.nonfinite.check_every,
                                  every_step_until=d.spikes.dense if spikes is not None else 0,
                                  sparse_until=d.spikes.early if spikes is not None else 0,
                                  sparse_every=d.spikes.sparse_every))
    if d.health.enabled and d.health.every:
        early_lr = None
        if d.failure.enabled:
            from functools import partial

            from .failure import crawling_early
            early_lr = partial(crawling_early, d.failure)
        monitors.append(HealthMonitor(d.health, early_lr, d.failure.enabled and d.failure.stop_crawling))
    if d.failure.enabled and problem.train_size <= d.failure.small_data:
        monitors.append(StartRecord(d.failure))
    # the start checks right after StepStats (which keeps the weights before any update), before anything that
    # watches the steps; a leak first: a position that sees later ones also sees the padding a batch adds, so that
    # the output of an example alone differs from its output in a batch (batch_dependence is then its consequence)
    start = []
    if d.leakage.enabled:
        from .leakage import LeakageCheck
        start.append(LeakageCheck(d.leakage))
    if d.start.enabled:
        from .startchecks import StartChecks
        start.append(StartChecks(d.start, d.failure.small_data))
    at = 1 if monitors and isinstance(monitors[0], StepStats) else 0
    return monitors[:at] + start + monitors[at:]


def before_stage(cfg: Any, stage, build: Callable, settings, sinks) -> Optional[float]:
    """Data first, then the LR: input scale (once per run: first stages only) and the loss of fresh
    weights (stages that start from fresh weights) come before the probe, so that a data or init problem
    is reported first and the probe never blames, or lowers, the LR for it. A check that raises is
    skipped (info) and the stage trains at its LR: a task the checks did not foresee keeps its run (an
    error of the task itself comes again, properly, when the stage builds it)."""
    from ..errors import ConfigError
    try:
        return _before_stage(cfg, stage, build, settings, sinks)
    except ConfigError:  # the user's settings or task (a bad knob value): one clear line, as always
        raise
    except Exception as e:  # noqa: BLE001
        from ..diagnosis import Diagnosis, record
        record(stage, sinks, Diagnosis(
            "check_skipped", "info", f"the checks before the stage could not run: {type(e).__name__}: {e}",
            evidence={"check": "before_stage", "error": f"{type(e).__name__}: {e}"},
            fix="the stage trains at its configured LR; please report the error with the model's type"))
        return None


def _before_stage(cfg: Any, stage, build: Callable, settings, sinks) -> Optional[float]:
    from types import SimpleNamespace

    from .init import BROKEN, check_init
    from .inputs import check_inputs
    from .lrschedule import early_decay
    from .order import sorted_targets
    from .padside import padded_apart
    from .probe import run_probe, skip_probe, wanted
    from .startchecks import constant_labels
    d = of(cfg)
    if not d.enabled:
        return None
    first = not stage.after and not getattr(stage, "inserted", False)
    inputs, init = d.inputs.enabled and first, d.init.enabled and stage.warm_start_source() is None
    probe = wanted(d, stage)
    if not (inputs or init or probe):
        return None  # the engine carries the predecessor's LR forward
    problem = build(stage.knobs)
    fresh = _fresh_weights(problem, build, settings.seed)
    state = None
    if first and d.order.enabled:  # before the scale: a sorted table's first rows are its smallest targets
        _said_first(stage, sinks, lambda: sorted_targets(d.order, problem))
    if inputs and check_inputs(d.inputs, stage, problem, sinks):
        state = BROKEN  # NaN/inf in the data: no LR can be measured on it
    if first and d.schedule.enabled:  # said before any stage trains on it, converged or not
        _said_first(stage, sinks, lambda: early_decay(d.schedule, settings))
    if init and state is None and d.start.enabled:
        # targets with nothing to learn, or padded apart from their inputs, make every later symptom (a batch that
        # looks mixed, a loss at a floor) a consequence
        _said_first(stage, sinks, lambda: constant_labels(d.start, SimpleNamespace(problem=problem)))
        _said_first(stage, sinks, lambda: padded_apart(d.start, problem))
        batch_dependence_first(d.start, stage, problem, settings, sinks)
    if init and state is None:
        state = check_init(d.init, stage, problem, settings, sinks,
                           d.start.symmetric_rows if d.start.enabled else 0)
    if not probe:
        return None
    if state == BROKEN:
        return skip_probe(stage, settings, sinks)
    return run_probe(d, cfg, stage, fresh, settings, sinks)


def _said_first(stage, sinks, check: Callable) -> None:
    """A check said before the probe: its warnings and errors (one Diagnosis, a list, or None). Findings only; the
    start checks skip what is said. A check that cannot read the batch says nothing here: the start checks try again
    and say why."""
    try:
        found = check()
    except Exception:  # noqa: BLE001
        return
    _record_findings(stage, sinks, found if isinstance(found, list) else [found] if found is not None else [])


def batch_dependence_first(c, stage, problem, settings, sinks) -> None:
    """The start checks' batch-dependence test, before the init loss and the probe: a model that mixes examples
    across the batch (a normalisation over dim 0) also makes the first loss odd and the probe's curve noisy,
    and the mixing is the root. Findings only (warning, error); the start checks skip what is said already."""
    from types import SimpleNamespace

    from .startchecks import batch_dependence, preserved
    run = SimpleNamespace(problem=problem, model=problem.model.to(settings.device), settings=settings)
    try:
        with preserved(run):
            # not on NaN outputs (padding turned into 0/0): the init check traces that op, the root; the start
            # checks still test the mixing
            found = batch_dependence(c, run, finite_only=True)
    except Exception:  # noqa: BLE001 - a model it cannot run: the start checks try again and say why
        return
    if any(d.severity in ("warning", "error") for d in found) and (_sees_the_future(run) or _hides_layers(run.model)):
        # the leak is the root; or layers kept in a plain list, which model.eval() does not reach (their BatchNorm
        # normalises over the batch in eval mode too: holdout30's shapes): the start checks judge the batch after
        # the leak check, and after the gradient check has named those layers
        return
    _record_findings(stage, sinks, found)


def _record_findings(stage, sinks, found: list) -> None:
    """A start check's warnings and errors, said before the probe (its infos are said by the start checks)."""
    from ..diagnosis import record
    for d in found:
        if d.severity in ("warning", "error"):
            record(stage, sinks, d)


def _hides_layers(model) -> bool:
    """The model keeps layers in plain lists, tuples or dicts, where PyTorch (model.eval(), parameters()) does not
    look."""
    from torch import nn

    from .startchecks import held_in_plain_containers
    return any(isinstance(item, nn.Module) for _, item in held_in_plain_containers(model))


def _sees_the_future(run) -> bool:
    """A position that sees later ones also sees the padding a batch adds (leakage.sees_the_future)."""
    from .leakage import sees_the_future
    found = sees_the_future(run.problem, run.model)
    return found is not None and found.code == "leakage"


def _fresh_weights(problem, build: Callable, seed: int) -> Callable:
    """build(knobs) for the probe without building the data again (a second or more for a real task): the
    problem with a copy of the model exactly as the task built it, taken before any check ran it."""
    import copy
    import dataclasses
    try:
        model = copy.deepcopy(problem.model)
    except Exception:  # noqa: BLE001 - a model that cannot be copied: build it again each time
        return build

    def fresh(knobs):
        import torch
        torch.manual_seed(seed)  # as build does: each probe sees the same dropout masks
        return dataclasses.replace(problem, model=copy.deepcopy(model))
    return fresh


def most_likely_cause(ladder, stage) -> Optional[dict]:
    from .ranking import most_likely_cause as rank
    return rank(ladder, stage)


def judge_failure(cfg: Any, run, outcome) -> None:
    """A failed stage: the failure checks' diagnoses, then the symptoms held while it trained (`run.deferred`: dead
    units, gradient spikes, gradients that vanished), which may be why it failed unless an error names a root cause
    (labels that do not follow from the inputs kill units too) or the optimiser's settings were measured to be it:
    then they stay the info they were."""
    for d in after_failure(cfg, run, outcome):
        run.diagnose(d)
    from .ranking import ROOT, tier
    explained = any(d["severity"] == "error" and d["code"] in ROOT for d in run.stage.diagnoses)
    # ... or the optimiser's settings measured (ranking.MEASURED: a tenth of the LR fits far better, a weight decay
    # holds the loss up, a decay ends the steps): dead units, spikes and vanishing gradients are what they leave behind
    explained = explained or any(d["code"] in ("lr_too_high", "lr_too_low", "loss_floor") and tier(d) == 0
                                 for d in run.stage.diagnoses)
    if not explained:
        for d in run.deferred or ():
            run.diagnose(d)


def judge_success(cfg: Any, run, outcome) -> None:
    """A stage that met its goal at an LR thousands of times below the probe's NaN threshold, its weights crawling
    (failure.lr_too_low's second rule, with `failure.success_gap`): it got there, ~25x slower than it would have.
    Not again on the stages that start from its weights (their LR is the same)."""
    d = of(cfg)
    if not (d.enabled and d.failure.enabled):
        return
    from .failure import crawling_lr
    found = crawling_lr(d.failure, run, outcome)
    if found is not None:
        run.diagnose(found)


def after_failure(cfg: Any, run, outcome) -> list:
    d = of(cfg)
    if not (d.enabled and d.failure.enabled):
        return []
    from .failure import run_checks
    return run_checks(d.failure, run, outcome)
