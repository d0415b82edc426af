"""Diagnostics: the debugging method's advice as checks that name the bug.

The engine calls these functions, and nothing else of this package:
- `validate(cfg)`: at startup; ConfigError for a bad `diagnostics.*` value or `optim.decay` with k <= n
- `before_stage(cfg, stage, build, settings, sinks)`: the LR probe; returns the LR to train at (or None)
- `monitors_for(cfg, stage, problem)`: Monitors watching a stage's training (see trainer.Monitor)
- `after_failure(cfg, run, outcome)`: checks that separate a bug from a hard problem

Each check family lives in its own module; docs/diagnostics.md lists every code and threshold.
Codes: lr_too_high, lr_probe, nonfinite, unstable_softmax, division_by_zero, log_of_zero,
exploding_gradients, vanishing_gradients, dead_units, saturated_units, input_scale, bad_init_loss,
params_not_updating, batch_dependence, labels_not_learnable, overfit_batch_size_1, lr_too_low,
loss_floor, check_skipped.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

# Only the config at import time: orchestrator/config.py imports DiagnosticsConfig from here, so the
# checks (which import the trainer and optimizers) load on first use.
from .config import DiagnosticsConfig, ProbeConfig, of, validate  # noqa: F401


def monitors_for(cfg: Any, stage, problem) -> list:
    from .failure import StartRecord
    from .health import HealthMonitor
    from .inputs import InputScaleCheck
    from .nonfinite import NonFiniteCheck
    from .spikes import SpikeCheck
    from .stepstats import StepStats
    d = of(cfg)
    if not d.enabled:
        return []
    monitors: list = []
    if d.inputs.enabled:
        monitors.append(InputScaleCheck(d.inputs))
    consumers: list = []
    spikes = SpikeCheck(d.spikes) if d.spikes.enabled else None
    if spikes is not None:
        consumers.append(spikes)
    if d.nonfinite.enabled:
        consumers.append(NonFiniteCheck(d.nonfinite, spikes))
    if consumers:
        monitors.append(StepStats(consumers, d.nonfinite.check_every,
                                  every_step_until=d.spikes.dense if spikes is not None else 0,
                                  sparse_until=d.spikes.early if spikes is not None else 0,
                                  sparse_every=d.spikes.sparse_every))
    if d.health.enabled and d.health.every:
        monitors.append(HealthMonitor(d.health))
    if d.failure.enabled and problem.train_size <= d.failure.small_data:
        monitors.append(StartRecord(d.failure))
    if d.start.enabled:
        from .startchecks import StartChecks
        # right after the data check (the root cause first), before anything that watches the steps
        monitors.insert(1 if d.inputs.enabled else 0, StartChecks(d.start, d.failure.small_data))
    return monitors


def before_stage(cfg: Any, stage, build: Callable, settings, sinks) -> Optional[float]:
    from .probe import run_probe, wanted
    d = of(cfg)
    if d.enabled and wanted(d, stage):
        return run_probe(d, cfg, stage, build, settings, sinks)
    return None  # the engine carries the predecessor's LR forward


def after_failure(cfg: Any, run, outcome) -> list:
    d = of(cfg)
    if not (d.enabled and d.failure.enabled):
        return []
    from .failure import run_checks
    return run_checks(d.failure, run, outcome)
