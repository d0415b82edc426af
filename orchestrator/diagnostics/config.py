"""The diagnostics' configuration (`diagnostics:` in the run config), with literature defaults.

Every threshold a check uses lives here, so a user can tune it from YAML or the command line,
e.g. `diagnostics.probe.margin=5` or `diagnostics.health.every=0` (off).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError


@dataclass
class ProbeConfig:
    """LR probe (code `lr_too_high`): short runs on fresh weights from `lr_max` down, /`factor` each time.

    The first LR whose run stays finite and does not diverge is the NaN threshold; the stage trains at
    threshold / `margin` when the configured LR is above the threshold, else at the configured LR.
    """

    enabled: bool = True          # probe before first stages (a stage's `probe: true/false` overrides)
    lr_max: float = 1.0           # the first LR tried (the configured LR is tried first if larger)
    factor: float = 3.0           # divide the LR by this after a probe that failed
    margin: float = 3.0           # train at threshold / margin (1..10)
    fallback_margin: float = 10.0  # a stage that fails at threshold / margin is retried once at threshold /
                                   # fallback_margin, the far end of "1-10x below" (0, or <= margin: never)
    iterations: int = 100         # iterations per probe
    max_probes: int = 12          # 1.0 / 3**11 ~ 6e-6: give up below that
    diverge_factor: float = 4.0   # diverged: a loss above this x the initial loss (fast.ai's lr_find uses 4)
    keep_user_lr: bool = True     # a configured LR below the threshold is kept (False: train at threshold/margin)
    race: bool = False            # a lowered LR: also probe threshold / fallback_margin, and train there when ...
    #                               (off: measured slower over whole ladders, see docs/diagnostics.md)
    race_ratio: float = 0.5       # ... its loss after `iterations` steps is below this x the loss at threshold / margin


@dataclass
class NonFiniteConfig:
    """Non-finite loss/gradient (codes `nonfinite`, `unstable_softmax`, `division_by_zero`, `log_of_zero`),
    and a loss unbounded below (`loss_unbounded`)."""

    enabled: bool = True
    check_every: int = 50         # iterations between host reads of the device-side flag (no per-step sync)
    snapshot_every: int = 100     # iterations between in-memory snapshots of the last good weights
    max_recoveries: int = 3       # roll back to the snapshot and lower the LR at most this often per stage
    lr_factor: float = 3.0        # divide the LR by this at each recovery
    trace: bool = True            # replay the offending batch with hooks to name the module
    unbounded_factor: float = 1000.0  # `loss_unbounded`: a training loss below -this x max(1, |the stage's
    #                                   first loss|) is unbounded below (a sign flipped); 0: off


@dataclass
class SpikeConfig:
    """Gradient spikes (code `exploding_gradients`): global grad norm far above its running median."""

    enabled: bool = True
    factor: float = 10.0          # a spike: norm > factor x running median of the recent norms
    window: int = 200             # norms in the running median
    recent: int = 20              # ... and a spike also stands out against this many norms just before it
    min_history: int = 20         # norms needed before spikes are judged
    early: int = 1000             # "early": spikes in the first this-many iterations count toward clipping
    dense: int = 200              # gradient norms at every step for this many iterations, then every
    sparse_every: int = 10        # this-many-th step until `early`, then once per nonfinite.check_every (cost)
    min_spikes: int = 3           # this many early spikes switch clipping on (or recommend it)
    clip_tight: float = 30.0      # `lr_too_low`: a configured clip this many x below the first norms' median
    auto_clip: bool = True        # False: only recommend clipping
    clip_percentile: float = 50.0  # clip at this percentile of the observed norms (AutoClip, Seetharaman 2020)
    # a memorised loss near zero makes Adam's normalised steps burst: no spike counts once the loss is
    # below tiny_loss x its first value or tiny_chance x problem.chance_loss
    tiny_loss: float = 1e-3
    tiny_chance: float = 0.01


@dataclass
class HealthConfig:
    """Per-layer health (codes `dead_units`, `saturated_units`, `vanishing_gradients`, `exploding_gradients`)."""

    enabled: bool = True
    every: int = 500              # iterations between health samples (0: off); each hooks one training step
    histograms: bool = True       # activation histograms to TensorBoard at each sample
    dead_fraction: float = 0.5    # warn when more than this share of a ReLU layer's units never fire on a batch
    saturation: float = 0.99      # tanh |y| > this, sigmoid y < 1-this or y > this: at the rails
    saturated_fraction: float = 0.5  # warn when more than this share of a tanh/sigmoid layer's outputs is at the rails
    saturated_fraction_recurrent: float = 0.2  # ... of a recurrent layer's hidden states (fed back, so stuck)
    vanishing_ratio: float = 1e-3  # first/last weight-layer grad norm below this: vanishing
    exploding_ratio: float = 1e3   # ... above this: exploding
    layer_vanishing_ratio: float = 1e-7  # a weight layer's ||grad|| / ||W|| below this x the median layer's (not 0):
    #                                      no signal reaches it (clean families at init: 4.6e-4 at the lowest)
    min_batch: int = 8            # dead units are judged only on batches at least this large
    early_sample: int = 50        # one more sample at this iteration, so short stages get two update ratios
    grad_weight_ratio: float = 10.0  # `exploding_gradients`: median per-layer ||grad|| / ||W|| at the first
    #                                  step above this (healthy nets: ~1e-3..1): huge from the start
    update_ratio_high: float = 0.1  # `exploding_gradients`: median per-layer update/weight ratio above this
    #                                 at this many samples (cs231n: ~1e-3 healthy) ...
    update_ratio_samples: int = 2   # ... (sustained, not one burst)
    adam_first_step: float = 0.1    # `lr_too_low`: an Adam-family first step below this x the LR per element (RMS,
    #                                 median over layers; ~1 whatever the gradient, unless eps dwarfs it: the clean
    #                                 families of every held-out suite >= 0.70)


@dataclass
class InputScaleConfig:
    """Input/target scale at stage start (code `input_scale`, warning only). LeCun et al. 1998, Efficient BackProp."""

    enabled: bool = True
    samples: int = 512            # training examples looked at
    max_mean: float = 1.0         # median |per-feature mean| above this: not centred
    min_std: float = 0.1          # median per-feature std outside [min_std, max_std]: not unit scale
    max_std: float = 10.0
    max_spread: float = 100.0     # largest / smallest non-constant feature std above this: mixed scales
    max_mean_any: float = 100.0   # one feature's |mean| above this, and 10x its std: that feature is not centred
    constant_share: float = 0.95  # a feature with one value in more than this share of samples is ignored
    min_relative_std: float = 1e-3  # ... and one whose std is below this x the median std (border pixels)
    sparse_share: float = 0.5     # a feature with one value in more than this share of samples (sparse pixels)
                                  # is left out of the spread: its std on a few samples rests on one or two values


@dataclass
class OrderConfig:
    """Training examples sorted by their target (code `labels_not_learnable`, warning), once per run."""

    enabled: bool = True
    samples: int = 64             # training examples looked at, spread evenly over the training set
    min_examples: int = 10        # judged over at least this many real-valued targets, one per example ...
    distinct: float = 0.9         # ... of which at least this share differ (class ids and binary labels tie)
    min_rho: float = 0.95         # |Spearman rho| between index and target at or above this: sorted


@dataclass
class ScheduleConfig:
    """An LR schedule that ends the learning early (code `lr_too_low`, warning), once per run."""

    enabled: bool = True
    window: float = 0.1           # stepped over this share of the first stage's budget ...
    min_steps: int = 100          # ... and at least this many iterations
    floor: float = 0.01           # the LR over the window's second half below this x its first half's peak (or never
    #                               above this x the configured LR): the schedule counts epochs as iterations


@dataclass
class InitConfig:
    """The first forward of fresh weights, before the LR probe (codes `nonfinite`, `bad_init_loss`)."""

    enabled: bool = True
    loss_factor: float = 3.0      # `bad_init_loss`: the first loss above this x problem.chance_loss


@dataclass
class LeakageConfig:
    """Too good to be true (codes `leakage`, `trivial_labels`), judged at each evaluation."""

    enabled: bool = True
    metric: str = "val/loss"      # the validation loss compared with problem.best_loss
    ratio: float = 0.9            # `leakage`: metric < ratio x best_loss - margin
    margin: float = 0.02          # ... (room for the sampling noise of a small validation set)
    perfect: float = 0.999        # `trivial_labels`: validation accuracy at least this ...
    majority: float = 0.999       # ... while one class makes up at least this share of the validation labels
    key_samples: int = 512        # `leakage` (answer key): training examples looked at, at each stage's start
    key_per_class: int = 5        # ... a class counts with at least this many examples among them
    key_classes: int = 3          # ... fires when at least this many classes, and every counted one, have a key
    same_evaluations: int = 4     # `leakage`: a held-out metric equal to its training side at this many evaluations


@dataclass
class FailureConfig:
    """Checks after a small-data stage failed: bug or hard problem?"""

    enabled: bool = True
    small_data: int = 100         # run them when the stage has at most this many training examples
    init_loss_tolerance: float = 0.5  # `bad_init_loss`: |init - chance| > this x chance
    overfit_iterations: int = 300  # `overfit_batch_size_1`: iterations on one example
    overfit_fraction: float = 0.05  # ... fits when the loss falls below this x its initial value
    overfit_floor: float = 0.4    # ... down to a floor below this x: info, not an error (label smoothing)
    consistency_examples: int = 16  # `labels_not_learnable` (batch-size-1 vs batched): examples trained both ways
    mismatch_fall: float = 0.5    # `loss_mismatch`: the optimised loss fell to this x its start, the task's measures
    mismatch_evaluations: int = 4  # ... not at all, over at least this many evaluations
    label_iterations: int = 200   # `labels_not_learnable`: iterations on real and on shuffled labels
    label_ratio: float = 0.9      # ... fires when real-label loss > this x shuffled-label loss
    label_examples: int = 256     # ... on at most this many training examples (it also runs for big stages)
    label_batch: int = 16         # ... in batches of at least this many (one example's loss per step: noise)
    label_longer: int = 4         # ... this many times longer when the real labels did not train on a warm-started
                                  # stage (its model memorised the stage before, at this LR: not broken)
    label_val_ratio: float = 0.9  # ... no verdict when the stage's own val/loss < this x chance_loss (it generalises)
    batch_tolerance: float = 1e-4  # `batch_dependence`: relative difference that counts
    label_memorised: float = 0.1  # ... no verdict when shuffled labels also fall below this x their first loss
    label_held_out: int = 64      # ... with at least this many more examples, judged on held-out ones instead:
    label_held_ratio: float = 0.95  # ... fires unless the real labels' held-out loss < this x the shuffled ones'
    label_acc_margin: float = 0.2  # ... and unless the stage's held-out accuracy beat the most frequent class by this
    augment_ratio: float = 3.0    # `labels_not_learnable` (augment.py): one consistent transform's held-out loss
                                  # this x the other's,
    augment_floor: float = 1.0    # ... and at least this x chance_loss (worse than guessing, not a mere shift)
    eval_batches: int = 4         # `loss_mismatch` (evalmode.py): batches of the stage's size compared in both modes
    eval_ratio: float = 3.0       # ... fires when the eval-mode loss is this x the train-mode loss (dropout off)
    eval_gap: float = 0.25        # ... and above it by this x chance_loss
    augment_versions: int = 6     # ... consistent versions trained (the seeds whose transforms differ most)
    augment_mix: float = 2.0      # ... or two versions trained together predict their unseen examples this x worse
    augment_margin: float = 0.05  # ... (and this x chance_loss worse) than each version's own model does
    augment_confirm: float = 1.3  # ... a relabelling counts where the two together are at least this x worse
    augment_gap: float = 0.15     # ... or (class targets) a one-to-one relabelling explains this much more of one
                                  # version's predictions on another's examples than their own targets do
    label_shuffled_better: float = 0.5  # ... shuffled labels' loss < this x the real ones': no verdict on a dict batch
    label_shuffled_floor: float = 0.01  # ... else labels_not_learnable, the real loss above this x its start,
    label_shuffled_examples: int = 50  # ... on at least this many examples, and again in a second pair of runs
    label_fit_examples: int = 64  # ... shuffled pairs tried one at a time first: a loss that raises or is not finite
    #                               on one (its targets index into another's shorter input) pairs same-shape examples
    update_ratio: float = 1e-5    # `lr_too_low`: median per-layer update/weight ratio below this (healthy ~1e-3)
    probe_gap: float = 1000.0     # ... or the LR this many times below the probe's NaN threshold (clean configs in
    update_ratio_slow: float = 1e-3  # the suites: <= 333x; LR bugs >= 11000x) while the ratio is below this
    lr_decayed: float = 0.01      # ... or the LR at the stage's end below this x its start (a schedule), ratio as above
    success_gap: float = 3000.0   # ... and on a stage that met its goal, the second rule only, this many times below
    stop_crawling: bool = True    # ... said mid-stage (from the second health sample): the stage ends at its next
                                  # evaluation and is judged then, instead of its whole budget at the same LR
    high_gap: float = 100.0       # `lr_too_high` without a NaN: the stage's LR within this factor of the probe's
    high_better: float = 0.5      # NaN threshold, and fresh weights at a tenth of it reach below this x its loss
    high_floor: float = 0.01      # ... while that loss stays above this x its first one (not memorised at the LR)
    ambiguous_examples: int = 4096  # `labels_not_learnable`, ambiguous inputs: up to this many examples, fetched one
    ambiguous_seconds: float = 5.0  # at a time for at most this long (once label_examples are in), of which at best
    ambiguous_share: float = 0.03   # this share cannot be fit: inputs shared exactly with examples whose targets differ
    ambiguous_distinct: float = 0.25  # ... judged when the sources take at least this share of distinct values
    climb_windows: int = 6        # `lr_too_high` from the training curve (loss_climbed): at least this many windows,
    climb_fell: float = 0.8       # the best window's loss at most this x the first one's (it came down), then the
    climb_back: float = 0.25      # last tenth's median at least this share of the way from the best back to the first
    climb_ratio: float = 1.25     # ... and at least this x the best
    settle_iterations: int = 200  # `lr_too_high`, steps too large to settle: the failed stage continued this long
    settle_gain: float = 0.25     # at a tenth of its LR passes its best by this share of the way to its goal
    settle_batch_scale: int = 8   # ... or at its LR on batches this x larger (at most the training set): a noisy step
    settle_batch_max: int = 32    # ... and at most this large (a batch below it costs about as much per step)
    bound_pinned: float = 0.1     # `loss_floor`, outputs that cannot reach their targets: this share of the trained
    bound_margin: float = 0.02    # outputs within this of an edge of (-1, 1) or (0, 1), never past it, while
    bound_beyond: float = 0.1     # this share of the targets lie past that edge by more than the margin
    unread_shift: float = 3.0     # `loss_mismatch`, unread output columns: shifted by this x (their spread + 1) in
    unread_change: float = 0.02   # evaluate(), the goal's metric moves by more than this (and this x its value)
    coarse_tied: float = 0.4      # `loss_floor`, a coarse output: this share of neighbouring output positions tied
    coarse_differ: float = 0.02   # in every example, where this share of their real targets differ
    affine_tolerance: float = 1e-5  # `loss_floor`, an affine model: mixed inputs' outputs within this x the outputs'
    #                                 difference of the mixed outputs
    shift_better: float = 0.5     # `labels_not_learnable`, targets one position ahead: moved one position on, fresh
    #                               weights reach below this x the loss on the targets as given,
    shift_unfit: float = 0.05     # ... which stays above this x its first loss (not memorised)
    bound_spread: float = 0.25    # a clamp: outputs tied at their extreme on targets spread this x as widely as all,
    bound_order: float = 0.75     # and beyond the untied ones' targets in this share of the pairs
    low_gap: float = 30.0         # `lr_too_low`, measured: the stage's LR this many x below the NaN threshold, and
    #                               fresh weights at 10x it reach below high_better x its loss (high_floor as above)
    blind_gain: float = 0.1       # held-out goal (val/acc) gained at most this x the rise of its training side
    blind_noise: float = 0.03     # ... or by at most this (an evaluation's noise on a few hundred examples)
    blind_rise: float = 0.25      # ... which rose by at least this x its last value (a real rise) ...
    blind_margin: float = 0.05    # ... and by more than this: `labels_not_learnable` (below_blind: below by this)
    ignored_change: float = 0.02  # an input the trained model ignores: swapped between examples, the loss within
    ignored_used: float = 1.1     # this share of itself, while another input swapped raises it this many times
    cut_ratio: float = 2.5        # sequences cut at a fixed width: the trained model's mean loss on the rows that fill
    #                               the width this many x that on the rows one token shorter, and on all shorter
    cut_rows: int = 8             # ... each group at least this many rows: `labels_not_learnable` (warning)
    cut_floor: float = 0.02       # ... and the full rows' mean loss at least this x the chance loss (not memorised)
    splits_calibration: float = 0.25  # splits built differently: at fresh weights the task's loss on training
    #                                   examples and evaluate()'s held-out loss within this share of each other,
    splits_transfer: float = 0.25  # ... trained on some training examples, the loss of others fell by this share,
    splits_carry: float = 0.1     # ... and the held-out loss by at most this x that fall: `labels_not_learnable`


@dataclass
class StartConfig:
    """Cheap checks at the start of every stage built from fresh weights, whatever its outcome
    (codes `params_not_updating`, `batch_dependence`, `labels_not_learnable`), and `loss_floor` at the
    end of a memorised small stage."""

    enabled: bool = True
    examples: int = 64            # training examples in the one forward/backward of the gradient check
    pad_examples: int = 64        # targets padded at the other end from their inputs, judged in one batch of this many
    pad_rows: int = 4             # ... when at least this many rows are padded in both, half of them apart
    frozen_share: float = 0.9     # requires_grad=False on less than this share of the weights: a frozen
    #                               part (warning); on more: a frozen backbone on purpose (info)
    zero_update: float = 0.05     # a parameter whose gradient was exactly zero at the start moved less than
    #                               this x the median relative change of the others by the end: stuck
    weight_factor: float = 10.0   # `bad_init_loss`: a standard layer's weights with a std above this x its default
    #                               init's (said at the stage's end when nothing else was)
    symmetric_rows: int = 4       # `symmetric_units`: weight tensors with at least this many rows (units), all
    #                               exact copies with the same gradient (a constant init)
    batch_examples: int = 8       # `batch_dependence`: a batch this large, two of its examples alone
    batch_tolerance: float = 1e-3  # ... relative difference that counts (float noise between batch sizes ~1e-6)
    batch_dependence_at_end: bool = True  # ... and again on the weights each stage trained, at its end (a mixing
    #                                       that fresh weights damp to nothing: gates near 0.5, a zero-init branch)
    label_examples: int = 512     # `labels_not_learnable`: constant targets among this many examples ...
    label_min_examples: int = 10  # ... judged only from this many (3 examples may share a class by chance)
    floor_fraction: float = 0.5   # `loss_floor`: training loss above this x chance_loss (or x the loss at
    #                               start) at the end of a memorised stage; label smoothing 0.1 stays below
    floor_min: float = 0.05       # ... and above this absolute value
    floor_iterations: int = 200   # ... and still there after this many more steps on a copy


@dataclass
class DiagnosticsConfig:
    enabled: bool = True          # False: no check at all
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    nonfinite: NonFiniteConfig = field(default_factory=NonFiniteConfig)
    spikes: SpikeConfig = field(default_factory=SpikeConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    inputs: InputScaleConfig = field(default_factory=InputScaleConfig)
    order: OrderConfig = field(default_factory=OrderConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    failure: FailureConfig = field(default_factory=FailureConfig)
    init: InitConfig = field(default_factory=InitConfig)
    leakage: LeakageConfig = field(default_factory=LeakageConfig)
    start: StartConfig = field(default_factory=StartConfig)


def _build(cls, value: Any, key: str):
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    if dataclasses.is_dataclass(value):
        value = dataclasses.asdict(value)
    if not hasattr(value, "items"):
        raise ConfigError(f"expected a mapping, got {value!r}", key=key)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for name, v in value.items():
        if name not in fields:
            raise ConfigError(f"unknown key {name!r} (expected one of {', '.join(fields)})", key=f"{key}.{name}")
        sub = fields[name].default_factory if fields[name].default_factory is not dataclasses.MISSING else None
        if sub is not None and dataclasses.is_dataclass(sub):
            v = _build(sub, v, f"{key}.{name}")
        kwargs[name] = v
    return cls(**kwargs)


def of(cfg: Any) -> DiagnosticsConfig:
    """The DiagnosticsConfig of a run config (accepts a dataclass, a dict or an OmegaConf node)."""
    value = getattr(cfg, "diagnostics", None) if cfg is not None else None
    if isinstance(value, DiagnosticsConfig):
        return value
    try:
        from omegaconf import DictConfig, OmegaConf
        if isinstance(value, DictConfig):
            value = OmegaConf.to_container(value, resolve=True)
    except ImportError:  # pragma: no cover
        pass
    return _build(DiagnosticsConfig, value or {}, "diagnostics")


def validate(cfg: Any) -> None:
    """Startup checks of the diagnostics' config and the LR decay. Raises ConfigError naming the key."""
    where = getattr(cfg, "task_file", "") or ""
    d = of(cfg)
    p = d.probe
    if not 1 <= p.margin <= 10:
        raise ConfigError(f"must be between 1 and 10, got {p.margin}", key="diagnostics.probe.margin", where=where)
    if p.fallback_margin and not 1 <= p.fallback_margin <= 100:
        raise ConfigError(f"must be 0 (never) or between 1 and 100, got {p.fallback_margin}",
                          key="diagnostics.probe.fallback_margin", where=where)
    if not 0 < p.race_ratio <= 1:
        raise ConfigError(f"must be in (0, 1], got {p.race_ratio}", key="diagnostics.probe.race_ratio", where=where)
    if p.lr_max <= 0:
        raise ConfigError(f"must be > 0, got {p.lr_max}", key="diagnostics.probe.lr_max", where=where)
    if p.factor <= 1:
        raise ConfigError(f"must be > 1, got {p.factor}", key="diagnostics.probe.factor", where=where)
    for key, value in (("probe.iterations", p.iterations), ("probe.max_probes", p.max_probes),
                       ("nonfinite.check_every", d.nonfinite.check_every),
                       ("nonfinite.snapshot_every", d.nonfinite.snapshot_every), ("spikes.recent", d.spikes.recent)):
        if value <= 0:
            raise ConfigError(f"must be > 0, got {value}", key=f"diagnostics.{key}", where=where)
    if d.nonfinite.lr_factor <= 1:
        raise ConfigError(f"must be > 1, got {d.nonfinite.lr_factor}", key="diagnostics.nonfinite.lr_factor",
                          where=where)
    if not 0 < d.spikes.clip_percentile <= 100:
        raise ConfigError(f"must be in (0, 100], got {d.spikes.clip_percentile}",
                          key="diagnostics.spikes.clip_percentile", where=where)
    if d.health.every < 0:
        raise ConfigError(f"must be >= 0, got {d.health.every}", key="diagnostics.health.every", where=where)
    optim = getattr(cfg, "optim", None)
    decay = getattr(optim, "decay", None)
    if decay is not None and decay.after is not None:
        if decay.every <= 0:
            raise ConfigError(f"must be > 0, got {decay.every}", key="optim.decay.every", where=where)
        if decay.after <= decay.every:
            raise ConfigError(f"the first decay (after k={decay.after} epochs) must come later than the decay "
                              f"interval (every n={decay.every} epochs): k > n", key="optim.decay.after", where=where)
        if decay.factor <= 1:
            raise ConfigError(f"must be > 1, got {decay.factor}", key="optim.decay.factor", where=where)
    if optim is not None and getattr(optim, "init_scale", 1.0) <= 0:
        raise ConfigError(f"must be > 0, got {optim.init_scale}", key="optim.init_scale", where=where)
