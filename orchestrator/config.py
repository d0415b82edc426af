"""Typed configuration: Hydra structured configs, registered once in the ConfigStore.

The entry point converts the composed config into these plain dataclasses; the engine never
sees OmegaConf.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from .diagnostics.config import DiagnosticsConfig


@dataclass
class GoalConfig:
    metric: str = MISSING   # a metric the task reports, e.g. "val/acc" or "train/loss"
    target: float = MISSING  # the stage converges when the metric reaches this value
    mode: str = "max"        # "max": metric >= target; "min": metric <= target


@dataclass
class KnobConfig:
    easy: Any = MISSING       # the value that makes the problem easiest
    hard: Any = MISSING       # the value of the real problem (a stage that omits the knob gets it)
    scale: str = "linear"     # "log", "linear" or "categorical": how "halfway" is measured
    values: Optional[List[Any]] = None  # categorical only: every value, ordered easy -> hard


@dataclass
class StageConfig:
    goal: GoalConfig = MISSING
    after: List[str] = field(default_factory=list)   # names of the stages that must converge first
    knobs: Dict[str, Any] = field(default_factory=dict)  # knob values for this stage; omitted = knob's hard end
    budget: Optional[int] = None     # iteration budget; default from ladder.budget / ladder.growth
    init_from: Optional[str] = None  # stage to warm-start from; default: the predecessor; "none": fresh
    lr: Optional[float] = None       # this stage's learning rate; default optim.lr
    batch_size: Optional[int] = None  # default optim.batch_size
    probe: Optional[bool] = None     # run the LR probe before this stage; default: first stage only
    search: Optional[Dict[str, Any]] = None  # search this stage outright, with these search.* settings ({} = defaults)
    mix: float = 0.0                 # share of each batch replayed from earlier stages (orchestrator/mixing.py)
    fallback: bool = False           # train it only when a stage after it fails without it (e.g. a sub-problem)


@dataclass
class LadderConfig:
    budget: int = 2000          # iterations for a stage with no predecessor
    growth: float = 10.0        # a later stage gets at most growth x its predecessor's iterations
    min_budget: int = 200       # ... but never fewer than this
    max_insertions: int = 3     # intermediate stages allowed per original edge of the ladder
    eval_every: int = 50        # iterations between evaluations (goal checks)
    max_evals: int = 200        # ... but a long stage evaluates at most ~this often (0: no limit; stopping.py)
    patience: int = 20          # evaluations without improvement before a stage stops early
    min_delta: float = 1e-4     # smallest change of the goal metric that counts as improvement
    # a stage that met its goal although the diagnostics found a bug in it (an error naming a root cause:
    # frozen weights, a leak, ...) ends the ladder: the harder stages would climb on the bug. False: climb on
    stop_on_bug: bool = True
    stages: Dict[str, StageConfig] = field(default_factory=dict)  # name -> stage


@dataclass
class DecayConfig:
    after: Optional[float] = None  # k: epochs before the first decay (None: constant LR)
    every: float = 1.0             # n: epochs between decays (k > n)
    factor: float = 1.5            # divide the LR by this at each decay


@dataclass
class SchedulerConfig:
    # any torch.optim.lr_scheduler class (or your own), called as target(optimizer, **args) and stepped
    # once per iteration, after the method's step decay; null: none
    _target_: Optional[str] = None
    args: Dict[str, Any] = field(default_factory=dict)


@dataclass
class OptimConfig:
    name: str = "adam"            # "adam", "adamw" or "sgd" (ignored when _target_ is set)
    # any optimiser, e.g. torch.optim.RAdam or your own, called as target(params, lr=lr, **args)
    _target_: Optional[str] = None
    args: Dict[str, Any] = field(default_factory=dict)  # the _target_'s own arguments (betas, eps, ...)
    lr: float = 1e-3              # learning rate (the LR probe may lower it)
    batch_size: int = 32          # capped at the stage's training-set size
    momentum: float = 0.9         # sgd only
    weight_decay: float = 0.0
    clip_norm: Optional[float] = None  # clip the global gradient norm at this value
    init_scale: float = 1.0       # multiply the initial weights by this (tuned with the LR)
    decay: DecayConfig = field(default_factory=DecayConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)


@dataclass
class ResourcesConfig:
    cpus: float = 1.0   # Ray: CPUs each trial asks for
    gpus: float = 0.0   # Ray: GPUs each trial asks for (fractions share a GPU, e.g. 0.5)


@dataclass
class SearchConfig:
    """Tuning a stage that cannot be learned (orchestrator/search): random trials of its settings."""

    trials: int = 16              # trials per searched stage (0: never search; the ladder stops instead)
    parallel: int = 0             # trials at once; 0: one per core (at most 4; Ray: the cluster's CPUs), 1 with tpe
    executor: str = "local"       # "local" (worker processes) or "ray" (Ray tasks)
    sampler: str = "random"       # "random" (seeded RandomSampler) or "tpe"
    space: Dict[str, Any] = field(default_factory=dict)  # key -> distribution; {}: LR x init_scale around the probe
    stage: Optional[str] = None   # a stage to search outright (e.g. search.stage=translate)
    prune: bool = True            # stop trials clearly behind at the same evaluation (successive halving)
    give_up: int = 8              # stop once this many trials finished and none converged (0: run them all)
    ray_address: Optional[str] = None  # a Ray cluster to join; None: start a local one
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)


@dataclass
class LogConfig:
    every: int = 50            # iterations between train/loss, lr and grad-norm points (and at each evaluation)
    histograms_every: int = 0  # iterations between per-parameter weight/grad histograms (0: never; e.g. 500)
    console: bool = True       # live progress bars
    checkpoint_secs: float = 10.0  # at most one mid-stage checkpoint per this many seconds (0: every evaluation)
    # more sinks, each {_target_: module.Class, ...its arguments}; see orchestrator/csvsink.py
    sinks: List[Any] = field(default_factory=list)


@dataclass
class RunConfig:
    task: Any = MISSING        # the task object: {_target_: module.Class, ...its arguments}
    knobs: Dict[str, KnobConfig] = field(default_factory=dict)  # name -> knob
    ladder: LadderConfig = field(default_factory=LadderConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    log: LogConfig = field(default_factory=LogConfig)
    diagnostics: DiagnosticsConfig = field(default_factory=DiagnosticsConfig)  # see docs/diagnostics.md
    search: SearchConfig = field(default_factory=SearchConfig)  # see README "Tuning"
    seed: int = 0              # same seed, same metrics (on CPU)
    device: str = "cpu"        # "cpu", "cuda" or "auto"
    threads: str = "auto"      # torch's CPU threads: a number, or auto = the cores / the jobs running at once
    precision: str = "32"      # "32", "bf16" (autocast) or "16-mixed" (autocast + gradient scaling)
    objective: str = "iterations"  # what `main` returns to a sweeper under -m: iterations | goal | exit_code
    resume: bool = True        # continue an interrupted run found in the run directory
    task_file: str = ""        # set by the entry point: the task YAML, for error messages


def register() -> None:
    ConfigStore.instance().store(name="run_schema", node=RunConfig)
