"""A network that does not learn: checks that separate a bug from a hard problem.

They run after a stage failed (`after_failure`) when it trained on at most `failure.small_data` (100)
examples: a network that cannot fit 100 examples usually has a bug. Each check is a function
`check(ctx) -> Diagnosis | None` in CHECKS; all that fire are reported.

- `bad_init_loss`: loss at init (fresh-weight stages only, measured at stage start) differs from
  problem.chance_loss by more than `failure.init_loss_tolerance` (50%) of it (Karpathy 2019, "verify loss @ init").
- `params_not_updating`: parameters that did not change during the stage, each with its reason
  (requires_grad off, not in the optimizer, no gradient reaches it, gradient exactly zero); those the
  start checks (startchecks.py) already named are not repeated.
- `batch_dependence`: the start check's test (startchecks.batch_dependence), for stages that did not
  start fresh; a fresh stage ran it at its start, and gets it again on the weights it trained (findings only), as
  do big stages (`batch_dependence_any_size`). A converged stage gets that from the start checks' end.
- `labels_not_learnable`: constant targets, or fresh weights fit the real labels no better than randomly
  permuted ones in `failure.label_iterations` (200) steps: the best loss of the last 10% of the run on
  real labels > `failure.label_ratio` (0.9) x the shuffled one. No verdict (`check_skipped`) when the
  real labels did not train either (a broken model or a bad LR, not the labels; a warm-started stage, whose
  model memorised the stage before, trains both `failure.label_longer` (4) times longer first), or when shuffled labels
  were memorised too (below `failure.label_memorised` (0.1) x their first loss: too few examples to
  tell), or when the stage already has a warning about the model itself (saturated or dead units,
  exploding gradients, a bad init loss, ...: MODEL_PROBLEMS), or when the batch layout has nothing to
  swap. Tuples `(inputs, ..., targets)` get each other's targets; dict batches get each other's source
  instead (the `x` / `input` / `inputs` / `src` key with the keys that describe it, `src_len`, ...),
  since a dict's targets may also be an input (a decoder's shifted target words).
- `overfit_batch_size_1`: fresh weights trained on one example for `failure.overfit_iterations` (300);
  error when the loss does not fall below `failure.overfit_fraction` (5%) of its start, info when it does.
- `batched_like_one` (after a one-example fit): the same 16 examples fit one at a time but not as one batch:
  `labels_not_learnable` (inputs meet other examples' targets in a batch).
- `lr_too_low`: median per-layer update/weight ratio (HealthMonitor) below `failure.update_ratio`
  (1e-5; ~1e-3 is healthy, cs231n), or below `failure.update_ratio_slow` (1e-3) at an LR at least
  `failure.probe_gap` (1000) times below the LR probe's NaN threshold.
- `held_out_blind` (any size): a held-out goal of mode max (`val/acc`) that the stage left within
  `failure.blind_gain` (0.1) x its training side's rise (or `failure.blind_noise`, 0.03) of a blind
  model's score, while that side (`train/acc`) rose by at least `failure.blind_rise` (0.25) x its value.
  The blind model: fresh weights trained `failure.label_iterations` on shuffled labels, their outputs
  averaged over the batch (the most frequent class for all). `labels_not_learnable`, with `below_blind`
  when the goal ended below that score (the splits disagree).
- `augmentation_breaks_labels` (any size; augment.py): a random transform in the batch function that keeps targets it
  changes: fresh weights trained on six consistently transformed versions of the training examples (the generators
  seeded alike before each single fetch) disagree on held-out examples, or (class targets) relabel each other's
  examples one-to-one: `labels_not_learnable`.
- `eval_mode_differs` (any size; evalmode.py): the trained model's eval-mode loss on its training examples several
  times its train-mode loss: `loss_mismatch`.
- `splits_differ` (any size; splits.py): fresh weights trained on some training examples lower the loss of other
  training examples but not the held-out loss: `labels_not_learnable` (the splits are built differently).
- `ignored_input` (any size; ignored.py): an input the trained model learnt to ignore although fresh weights
  read it, while it uses the others: `labels_not_learnable` (that input does not go with its own example).
- `unread_output` (any size; unread.py): output columns the loss's gradient never reaches, which the goal's metric
  reads (shifting them moves it): `loss_mismatch` (the loss reads the wrong column).
- `unreachable_targets` (any size; bounded.py): trained outputs inside (-1, 1) or (0, 1), pressed against an edge,
  with targets beyond it: `loss_floor` (a tanh or sigmoid on a regression head); or tied at their extreme (a clamp).
- `coarse_output` (any size; coarse.py): neighbouring per-position outputs exactly equal across the batch where their
  targets differ: `loss_floor` (a stride or pooling, then nearest upsampling).
- `affine_model` (any size; affine.py): the trained model's outputs are affine in its float inputs (mixing two
  examples' inputs mixes the outputs alike): `loss_floor` warning (no nonlinearity between its layers).
- `lr_near_threshold` (any size): within `failure.high_gap` (100x) of the probe's NaN threshold, a tenth of the LR
  fits far better: `lr_too_high`. `lr_far_below` (any size, before the label check): `failure.low_gap` (30x) or
  more below a measured threshold, crawling weights, and ten times the LR comes down twice as far: `lr_too_low`.
- `loss_climbed` (any size, right after it, when nothing else was said): the stage's training loss came down and then
  climbed back a quarter of the way to its start: `lr_too_high`.
- `steps_too_large` (any size, right after it, when nothing else was said; settle.py): the failed stage continued from
  its own weights at a tenth of its LR passes its best, while the LR itself does not: `lr_too_high`.
- `ambiguous_inputs` (any size, before the label check; ambiguous.py): a tenth of the examples share their inputs
  exactly with another whose targets differ: `labels_not_learnable`.
- `shifted_targets` (any size; shifted.py): per-position targets that fresh weights fit far better moved one position
  on: `labels_not_learnable` (each position asked for the next one's target).
- `decay_floor` (any size, when the optimiser decays and nothing else was said): fresh weights reach less than half the
  loss without the weight decay: `loss_floor` (a decay too strong for its optimiser).
- `cut_sequences` (any size, last; truncation.py): the trained model's loss steps up at the rows of the longest
  real length: `labels_not_learnable` (sequences cut at a fixed length).
"Fresh weights" are the model exactly as the task built it (StageRun.initial_state, kept before any
warm start), never reset_parameters(): the user's own initialisation may be the bug.
A check that cannot run records `check_skipped` (info) with the reason.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, replace
from typing import Any, Optional

import torch
from torch import nn

from ..diagnosis import Diagnosis
from ..optim import make_optimizer
from ..trainer import optimisation_step, to_device
from .common import (batch_targets, compares_examples, fresh_copy, num, run_model, source_keys, state_copy,
                     same_sequence, tensors_in, training_side, zero_initialised, zero_output_loss)
from .config import FailureConfig
from .augment import augmentation_breaks_labels, drawn_anew, inputs_vary
from .evalmode import eval_mode_differs
from .ignored import ignored_input
from .bounded import unreachable_targets
from .coarse import coarse_output
from .affine import affine_model
from .ambiguous import ambiguous_inputs
from .shifted import shifted_targets
from .unread import unread_output
from .splits import splits_differ
from .settle import steps_too_large
from .truncation import cut_sequences
from .startchecks import LAYOUT_FIX, StartChecks, batch_first, constant_targets, is_fresh, preserved, skipped, take
from .startchecks import batch_dependence as startchecks_batch_dependence
from .startchecks import batch_dependence_trained


class StartRecord:
    """Monitor: the weights and the loss as the stage starts (for params_not_updating, bad_init_loss)."""

    def __init__(self, c: FailureConfig):
        self.c = c
        self.weights: dict = {}
        self.initial: Optional[dict] = None  # the fresh weights, when the engine did not keep them
        self.init_loss: Optional[float] = None

    def state_dict(self) -> dict:
        return {"weights": self.weights, "init_loss": self.init_loss}

    def load_state_dict(self, state: dict) -> None:
        self.restored = state  # applied by on_start, which the trainer calls after restoring

    def on_start(self, run) -> None:
        restored, self.restored = getattr(self, "restored", None), None
        if restored:  # resumed: the weights the attempt started from, not those of the checkpoint
            self.weights, self.init_loss = restored["weights"], restored["init_loss"]
            return
        self.weights = {n: p.detach().clone() for n, p in run.model.named_parameters()}
        fresh = is_fresh(run)
        if fresh and run.initial_state is None:
            self.initial = state_copy(run.model)
        if fresh and run.problem.chance_loss is not None:
            model = run.model
            was = model.training
            model.eval()
            with torch.no_grad():
                batch = _to(run, run.problem.get_batch(torch.arange(min(run.problem.train_size, 256))))
                self.init_loss = float(run.problem.loss(model, batch))
            model.train(was)


@dataclass
class Context:
    cfg: FailureConfig
    run: Any
    outcome: Any
    start: Optional[StartRecord]
    health: Any
    startchecks: Optional[StartChecks] = None
    lr_suspect: bool = False  # lr_too_low fired: checks that retrain at this LR prove nothing about bugs
    unfit: bool = False       # overfit_batch_size_1 (error): one example cannot be fit, at any LR tried
    labels_named: bool = False  # held_out_blind found labels_not_learnable
    fitted_one: bool = False  # overfit_batch_size_1 (info): fresh weights fit one example
    floor: bool = False       # ... only down to a floor of the loss (label smoothing)
    fitted: dict = field(default_factory=dict)  # fitting_shuffle's answer per chosen examples (two checks ask)
    alarmed: bool = False     # a check of this failure found a warning or an error
    lr_used: bool = True      # lr_too_low judges the LR the updates used (a warm-up's), not only the one set

    @property
    def problem(self):
        return self.run.problem

    def fresh_model(self):
        """The model as the task built it (not reset_parameters(): a custom init may be the bug)."""
        state = self.run.initial_state
        if state is None and self.start is not None:
            state = self.start.initial
        return fresh_copy(self.run.model, state)

    def said_anything(self) -> bool:
        """Any warning or error on the stage, from this failure's checks or from a stage its weights came from (an
        LR the probe lowered aside): the last-resort checks (splits_differ, ignored_input) then stand down, since a
        reason already named (a mask, a detached encoder, a loss that does not measure the task, a too-low LR, an
        example that cannot be fit) must not be blamed on the data."""
        said = [d for d in self.run.stage.diagnoses if d["severity"] != "info" and d["code"] != "lr_too_high"]
        return bool(self.alarmed or said or set(self.run.inherited) - {"lr_too_high"})

    def ran_at_start(self, check: str) -> bool:
        return self.startchecks is not None and check in self.startchecks.ran


def wider_context(ctx: Context) -> Optional[Context]:
    """`ctx` on the problem of the stage the failed one builds up to (StageRun.wider: more examples, the model as the
    task builds it there), for a check that needs more examples than a small stage holds; None at the ladder's top."""
    build = getattr(ctx.run, "wider", None)
    if build is None:
        return None
    problem = build()
    model = problem.model.to(ctx.run.settings.device)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    # (its metrics stay the failed stage's: evidence that the labels follow from the inputs holds for both)
    run = replace(ctx.run, problem=problem, model=model, initial_state=state, wider=None)
    return replace(ctx, run=run, start=None, fitted={})


def _to(run, batch):
    return to_device(batch, run.settings.device)


def _all(run) -> torch.Tensor:
    return torch.arange(min(run.problem.train_size, 100 if run.problem.train_size <= 100 else 256))


def bad_init_loss(ctx: Context) -> Optional[Diagnosis]:
    chance = ctx.problem.chance_loss
    if ctx.start is None or ctx.start.init_loss is None or not chance:
        return None
    init = ctx.start.init_loss
    off = abs(init - chance) / chance
    if math.isfinite(init) and off <= ctx.cfg.init_loss_tolerance:
        return None
    # real-valued targets: a fresh net's outputs start anywhere between chance (the variance) and E[y^2] when they
    # are ~0, and add their own mean square E[f^2] when they are not (a residual MLP's output of the targets' own
    # scale: MSE ~2x E[y^2] at a clean init); a bad init is far above that. Below chance is no fault either: the
    # outputs of a residual net correlate with targets that follow from its inputs
    zero = zero_output_loss(batch_targets(ctx.problem, ctx.problem.get_batch(_all(ctx.run))))
    if math.isfinite(init) and zero is not None and init <= zero * (2 + ctx.cfg.init_loss_tolerance):
        return None
    if not math.isfinite(init):
        if any(d["code"] == "nonfinite" for d in ctx.run.stage.diagnoses):
            return None  # said at the stage's start, traced to its op
        return Diagnosis("bad_init_loss", "warning", f"the loss at init is {init}: non-finite before any update",
                         evidence={"init_loss": num(init), "chance_loss": num(chance)},
                         fix="look for log(0), a division by zero or NaN weights in the model as the task built it")
    return Diagnosis("bad_init_loss", "warning",
                     f"the loss at init is {num(init)}, {'above' if init > chance else 'below'} the chance "
                     f"loss {num(chance)} by {off:.0%}", evidence={"init_loss": num(init), "chance_loss": num(chance),
                                                                 "tolerance": ctx.cfg.init_loss_tolerance},
                     fix="check optim.init_scale and the last layer's init (logits near 0 at init), and the loss")


ZERO = "its gradient is exactly zero"
NEGLIGIBLE, NEGLIGIBLE_REASON = 1e-6, "its gradient is negligible (below 1e-6 of its size: cancelled downstream?)"


def params_not_updating(ctx: Context) -> Optional[Diagnosis]:
    if ctx.start is None or not ctx.start.weights:
        return None
    run, model = ctx.run, ctx.run.model
    in_opt = {id(p) for g in run.optimizer.param_groups for p in g["params"]}
    named_at_start = ctx.startchecks.reported if ctx.startchecks is not None else set()
    stuck = [(n, p) for n, p in model.named_parameters()
             if n in ctx.start.weights and n not in named_at_start and torch.equal(p.detach(), ctx.start.weights[n])]
    if not stuck:
        return None
    # one forward/backward to see which of them get a gradient
    grads = {}
    try:
        model.train()
        model.zero_grad(set_to_none=True)
        flags = [(p, p.requires_grad) for _, p in stuck]
        for p, _ in flags:
            p.requires_grad_(True)
        loss = ctx.problem.loss(model, _to(run, ctx.problem.get_batch(_all(run))))
        loss.backward()
        grads = {n: p.grad for n, p in stuck}
        for p, f in flags:
            p.requires_grad_(f)
        model.zero_grad(set_to_none=True)
    except Exception:
        pass
    reasons = {}
    for n, p in stuck:
        if not p.requires_grad:
            reasons[n] = "requires_grad is False (frozen)"
        elif id(p) not in in_opt:
            reasons[n] = "not in the optimizer"
        elif grads.get(n) is None:
            reasons[n] = "no gradient reaches it (unused in the loss, or detached)"
        elif not bool(grads[n].abs().sum() > 0):
            reasons[n] = ZERO
        elif float(grads[n].norm()) <= NEGLIGIBLE * max(float(p.detach().norm()), 1e-12):
            reasons[n] = NEGLIGIBLE_REASON
        else:
            reasons[n] = "unchanged although it has a gradient (LR 0?)"
    names = list(reasons)
    # as at the start (startchecks._zero_gradient): a bias or norm scale alone can get exactly zero by design (the
    # output bias of a scorer used as score(a) - score(b) cancels; a convolution's bias before BatchNorm, ~1e-9 of
    # its size); a weight matrix, or any other reason, is a bug. After lr_too_low, steps too small for float32 to
    # register (SGD at 1e-5) are that warning's, not a separate fault
    shapes = {n: p.dim() for n, p in stuck}
    by_design = all((reasons[n] in (ZERO, NEGLIGIBLE_REASON) and shapes[n] < 2)
                    or (ctx.lr_suspect and reasons[n].startswith("unchanged although")) for n in names)
    return Diagnosis("params_not_updating", "info" if by_design else "error",
                     f"{len(names)} parameter tensor(s) did not change in {ctx.outcome.iterations} iterations: "
                     + ", ".join(f"{n} ({reasons[n]})" for n in names[:5]) + (" ..." if len(names) > 5 else ""),
                     evidence={"parameters": reasons,
                               "total": sum(1 for _ in model.parameters())},
                     fix="set requires_grad=True / pass every parameter to the optimizer / make sure the "
                         "parameter is used in the loss without .detach()")


def batch_dependence(ctx: Context):
    if ctx.ran_at_start("batch_dependence"):  # checked on the fresh weights at the stage's start: now on the trained
        return batch_dependence_any_size(ctx)
    from .config import StartConfig
    c = ctx.startchecks.c if ctx.startchecks is not None else StartConfig()
    with preserved(ctx.run):
        return startchecks_batch_dependence(c, ctx.run)


def _train(ctx: Context, model, batch_fn, iterations: int, pool: int, held=None,
           lr: Optional[float] = None, order: int = 0, optim=None) -> tuple[list, list]:
    """Train `model` on random batches from the first `pool` training examples (at `lr`, default the stage's;
    batches of the stage's size, at least `failure.label_batch`: at batch size 1 the best of the last steps'
    losses is the easiest example's, not a fit): the training losses, and the loss on the `held` batch
    (examples it never trains on) at 5 points of the run (empty without). `order` seeds the batches' order."""
    run = ctx.run
    model.train()
    opt = make_optimizer(model.parameters(), optim or run.settings.optim, lr or run.base_lr)
    losses, held_losses = [], []
    bs = min(max(run.settings.batch_size, ctx.cfg.label_batch), pool)
    g = torch.Generator().manual_seed(order)
    marks = {max(1, iterations * k // 5) for k in range(1, 6)}
    for i in range(iterations):
        idx = torch.randperm(pool, generator=g)[:bs]
        losses.append(optimisation_step(model, opt, ctx.problem, batch_fn(idx), run.clip_norm))
        if held is not None and i + 1 in marks:
            model.eval()
            with torch.no_grad():
                held_losses.append(float(ctx.problem.loss(model, held)))
            model.train()
    return ([float(v) for v in torch.stack(losses).tolist()] if losses else []), held_losses


def _late_best(losses: list) -> float:
    """The best loss of the last 10% of a run: the speed of fitting depends on the LR, the endpoint less so."""
    return min(losses[-max(1, len(losses) // 10):])


def _shuffled_better_again(ctx: Context, chosen: torch.Tensor, pool: int, real, alike: bool,
                           iterations: int) -> Optional[tuple]:
    """labels_not_learnable's second pair of runs: real labels and another shuffle, in another batch order. (real,
    shuffled) best final losses when the shuffled ones fit clearly better again, else None."""
    c, run = ctx.cfg, ctx.run
    if alike:
        perm = alike_permutation(ctx.problem, chosen, seed=3)
    else:
        perm = torch.randperm(len(chosen), generator=torch.Generator().manual_seed(3))
    if perm is None:
        return None
    other = shuffled_batches(ctx.problem, chosen, perm)
    real_losses = _train(ctx, ctx.fresh_model(), real, iterations, pool, order=1)[0]
    shuf_losses = _train(ctx, ctx.fresh_model(), lambda idx: _to(run, other(idx)), iterations, pool, order=1)[0]
    fr, fs = _late_best(real_losses), _late_best(shuf_losses)
    finite = math.isfinite(fr) and math.isfinite(fs)
    return (fr, fs) if finite and _worse_than_shuffled(c, fr, fs, real_losses[0]) else None


def _worse_than_shuffled(c: FailureConfig, fr: float, fs: float, r0: float) -> bool:
    """Real labels' best final loss `fr` clearly above the shuffled ones' `fs`, while not memorised (above
    `label_shuffled_floor` x their first loss `r0`)."""
    return fs >= 0 and fs < c.label_shuffled_better * fr and fr > c.label_shuffled_floor * r0


def _beyond_guessing(run, targets, margin: float) -> Optional[str]:
    """Why the stage's own held-out accuracy shows that its labels follow from the inputs (its goal a held-out
    accuracy whose best lies `margin` or more above the share of the most frequent class among the training targets:
    what a guess blind to the inputs gets), or None."""
    goal = run.stage.goal
    if not (goal.mode == "max" and "acc" in goal.metric and training_side(goal.metric) and run.best is not None):
        return None
    if not (isinstance(targets, torch.Tensor) and not targets.is_floating_point() and not targets.is_complex()):
        return None
    labels = targets.reshape(-1)
    labels = labels[labels >= 0]  # ignore_index (-100) aside
    if labels.numel() < 2:
        return None
    share = float(torch.bincount(labels.cpu()).max()) / labels.numel()
    if not run.best >= share + margin:
        return None
    return (f"the stage's own training reached {goal.metric} {num(run.best)} on unseen examples, far above the "
            f"{num(share)} of always guessing the most frequent class: the labels follow from the inputs")


def spread_batch(ctx, size: Optional[int] = None):
    """The first `size` (default `failure.label_examples`) of the spread training examples as one batch, on the
    stage's device: what the checks of trained outputs look at."""
    pool = min(ctx.problem.train_size, size or ctx.cfg.label_examples)
    return _to(ctx.run, ctx.problem.get_batch(spread(ctx.problem.train_size, pool)[:pool]))


def spread(n: int, pool: int) -> torch.Tensor:
    """The training examples the label checks use, in order: all of them when they fit in `pool`, else a seeded
    random order (the first `pool` train, the next ones are held out). Never the first examples of the set as
    they come: data sorted by label, by target or by time makes those a biased slice (sorted regression targets
    gave the first 256 a range of their own, where real and shuffled labels told nothing apart)."""
    if n <= pool:
        return torch.arange(n)
    return torch.randperm(n, generator=torch.Generator().manual_seed(3))


def shuffled_batches(problem, chosen: torch.Tensor, perm: Optional[torch.Tensor] = None):
    """idx (positions in `chosen`) -> those examples' batch with the targets (a dict: the sources) of other examples
    of `chosen`, in one seeded permutation (or `perm`): labels blind to the inputs. None where the layout has
    nothing to swap."""
    if perm is None:
        perm = torch.randperm(len(chosen), generator=torch.Generator().manual_seed(1))

    def shuffled(idx):
        mine, others = chosen[idx], chosen[perm[idx]]
        swapped = _with_targets(problem, problem.get_batch(mine), problem.get_batch(others))
        if swapped is None:  # each batch padded to its own width: fetched as one, the two halves share it
            both = problem.get_batch(torch.cat([mine, others]))
            if batch_first(both, 2 * len(mine)):
                k = torch.arange(len(mine))
                swapped = _with_targets(problem, take(both, k), take(both, k + len(mine)))
        return swapped
    return shuffled


def fitting_shuffle(ctx: "Context", chosen: torch.Tensor, shuffled) -> tuple:
    """(`shuffled`, False) when the task's loss runs on it; else (one that pairs each example only with examples of
    the same shapes, fetched alone: the same length, True), or (None, True) when no two share them. Targets that
    index into the inputs (a pointer network's positions in its source, a span's offsets) go out of range beside a
    shorter example's input: IndexError 'Target 8 is out of bounds' ended the check (benchmarks/holdout21's
    pointer)."""
    key = tuple(chosen.tolist())  # held_out_blind and labels_not_learnable choose the same examples
    if key not in ctx.fitted:
        ctx.fitted[key] = _fitting_shuffle(ctx, chosen, shuffled)
    return ctx.fitted[key]


def _fitting_shuffle(ctx: "Context", chosen: torch.Tensor, shuffled) -> tuple:
    run, problem = ctx.run, ctx.problem
    model = ctx.fresh_model().eval()
    try:  # one example at a time: in a batch the padding of a longer partner may hide it (or give an inf loss)
        with torch.no_grad():
            if all(bool(torch.isfinite(problem.loss(model, _to(run, shuffled(torch.tensor([i])))).detach()).all())
                   for i in range(min(len(chosen), ctx.cfg.label_fit_examples))):
                return shuffled, False
    except Exception:  # noqa: BLE001 - the task's own error on a pairing it never meets in training
        pass
    perm = alike_permutation(problem, chosen)
    return (shuffled_batches(problem, chosen, perm) if perm is not None else None), True


def alike_permutation(problem, chosen: torch.Tensor, seed: int = 1) -> Optional[torch.Tensor]:
    """A seeded permutation of positions in `chosen` within groups of examples whose tensors have the same shapes
    when fetched alone; None when every group has one example."""
    groups: dict = {}
    for i in range(len(chosen)):
        shapes = tuple(tuple(t.shape) for t in tensors_in(problem.get_batch(chosen[i:i + 1])))
        groups.setdefault(shapes, []).append(i)
    perm, g = torch.arange(len(chosen)), torch.Generator().manual_seed(seed)
    for members in groups.values():
        if len(members) > 1:
            m = torch.tensor(members)
            perm[m] = m[torch.randperm(len(m), generator=g)]
    return perm if max(len(m) for m in groups.values()) > 1 else None


def labels_not_learnable(ctx: Context):
    run, problem, c = ctx.run, ctx.problem, ctx.cfg
    if ctx.labels_named:  # held_out_blind said it, from the stage's own held-out goal
        return None
    n = problem.train_size
    pool = min(n, c.label_examples)  # a few hundred examples tell labels from noise
    order = spread(n, pool)
    chosen = order[:pool]
    every = _to(run, problem.get_batch(chosen))
    targets = batch_targets(problem, every)
    if not ctx.ran_at_start("labels") and isinstance(targets, torch.Tensor) and targets.dim() and pool >= 2:
        constant = constant_targets(targets)
        if constant:
            return constant
    if pool < 4:
        return skipped("labels_not_learnable", f"only {pool} training examples")
    val, chance = run.last_metrics.get("val/loss"), problem.chance_loss
    val = val if isinstance(val, (int, float)) and math.isfinite(val) else None
    held_out = n >= pool + c.label_held_out
    if not held_out and val is not None and chance and val < c.label_val_ratio * chance:
        # a few hundred examples in 200 steps may generalise to nothing (a masked LM), real labels or not
        return skipped("labels_not_learnable", f"the stage's own training predicts unseen examples better than "
                       f"chance (val/loss {num(val)} vs chance {num(chance)}): the labels follow from the inputs")
    if ctx.lr_suspect:  # neither real nor shuffled labels would train in the check's few hundred steps
        return skipped("labels_not_learnable", "lr_too_low names the LR too small: the real labels would not train "
                       "at it either, so they cannot be told from shuffled ones", fix=RAISE_LR_FIRST)
    if ctx.floor:  # the real-vs-shuffled margins below assume losses that can fall to 0; a smoothed floor squeezes them
        return skipped("labels_not_learnable", "one example is fit only down to a floor of the loss (label "
                       "smoothing, a weight decay): real and shuffled labels would be compared on what is left above "
                       "it")
    sick = _model_problems(run) + (["overfit_batch_size_1"] if ctx.unfit else [])
    if sick:  # a model that cannot use its inputs fits real labels no better than shuffled ones either
        return skipped("labels_not_learnable", f"the model itself is unwell ({', '.join(sick)}): fix that first; "
                       "comparing real with shuffled labels would blame the labels for it")
    shuffled = shuffled_batches(problem, chosen)

    def real(idx):
        return _to(run, problem.get_batch(chosen[idx]))

    if shuffled(torch.arange(min(pool, 2))) is None:
        return skipped("labels_not_learnable", "no targets or inputs to swap in this batch layout ((inputs, ..., "
                       "targets) tuples, or dicts with a source key or tensors besides the targets)", fix=LAYOUT_FIX)
    shuffled, alike = fitting_shuffle(ctx, chosen, shuffled)
    if shuffled is None:
        return skipped("labels_not_learnable", "the task's loss fails when an example meets another's targets (they "
                       "index into its own input?), and no two examples have the same shapes to swap them between")
    if isinstance(every, dict) and not _reads_source(ctx, real(torch.arange(min(pool, 16))),
                                                      _to(run, shuffled(torch.arange(min(pool, 16))))):
        blind = _same_for_all(ctx, real(torch.arange(min(pool, 16))))
        if blind is not None:
            return blind
        return skipped("labels_not_learnable", "the model's outputs do not depend on the batch's source (a "
                       "language model beside an unused src?): swapping sources tests nothing")
    # examples neither run trains on: real labels generalise to them, labels unrelated to the inputs do not
    # (memorising says nothing about that: a few hundred random labels are memorised as fast as real ones)
    held_real = held_shuf = None
    if held_out:
        held_idx = order[pool:pool + c.label_examples]
        held_order = torch.randperm(len(held_idx), generator=torch.Generator().manual_seed(2))
        if alike:  # paired as the training examples were: only with examples of the same shapes
            held_order = alike_permutation(problem, held_idx, seed=2)
            held_out = held_order is not None
    if held_out:
        held_perm = held_idx[held_order]
        held_real = _to(run, problem.get_batch(held_idx))
        held_shuf = _to(run, _with_targets(problem, problem.get_batch(held_idx), problem.get_batch(held_perm)))

    def both(iterations: int):
        """The model the real labels trained (asked below whether it still reads its inputs), then both runs."""
        a = ctx.fresh_model()
        b = copy.deepcopy(a)
        return (a, _train(ctx, a, real, iterations, pool, held_real),
                _train(ctx, b, lambda idx: _to(run, shuffled(idx)), iterations, pool, held_shuf))

    iterations = c.label_iterations
    trained, (real_losses, real_held), (shuf_losses, shuf_held) = both(iterations)
    if not ctx.lr_suspect and _late_best(real_losses) > 0.9 * real_losses[0] and run.stage.warm_start_source():
        # the model memorised the stage it starts from, at this LR: neither is broken. Real labels that follow
        # from the inputs train given longer; labels unrelated to them are then told apart as below
        iterations = c.label_iterations * c.label_longer
        trained, (real_losses, real_held), (shuf_losses, shuf_held) = both(iterations)
    if _trained_blind(ctx, trained, real(torch.arange(min(pool, 16)))):
        # its loss fell only as far as the labels' frequencies take it (a bias), and shuffled labels, which keep the
        # frequencies, reach the same: equal losses then say nothing about the labels (holdout60's signals/sgd_lr_3:
        # SGD at 3.0 drove every unit dead, 1.42 for both, the 10 examples' class prior)
        return skipped("labels_not_learnable", f"trained on the real labels, the model gives every example the same "
                       f"output (loss {num(real_losses[0])} -> {num(_late_best(real_losses))}): it stopped reading "
                       "its inputs (dead units, a step size that wrecked the weights), so real and shuffled labels "
                       "cannot be told apart: a model or LR problem, not the labels")
    fr, fs = _late_best(real_losses), _late_best(shuf_losses)
    r0, s0 = real_losses[0], shuf_losses[0]
    if not all(math.isfinite(v) for v in (fr, fs, r0, s0)):
        return skipped("labels_not_learnable", "non-finite losses while training on real or shuffled labels")
    evidence = {"real_final": num(fr), "shuffled_final": num(fs), "real_start": num(r0), "shuffled_start": num(s0),
                "iterations": iterations, "examples": pool}
    if fr > 0.9 * r0:
        return skipped("labels_not_learnable", f"the real labels did not train either (loss {num(r0)} -> {num(fr)}): "
                       "a broken model or a bad LR, not a label problem")
    if fs < c.label_shuffled_better * fr and isinstance(every, dict):
        # a dict batch swaps sources, not targets: another example's source may give away this one's targets (a
        # masked LM at batch size 1), so the shuffle changed the problem itself
        return skipped("labels_not_learnable", f"shuffled labels fit better than the real ones ({num(fs)} vs "
                       f"{num(fr)}): swapping the sources changed the problem itself, so it says nothing about the "
                       "labels")
    if real_held and shuf_held and all(math.isfinite(v) for v in real_held + shuf_held):
        hr, hs = min(real_held), min(shuf_held)
        evidence.update(held_out_real=num(hr), held_out_shuffled=num(hs), held_out_examples=int(len(held_idx)))
        if hr < c.label_held_ratio * hs:
            return None  # the real labels generalise beyond what shuffled ones do: they follow from the inputs
        # 200 steps may generalise to nothing (a masked LM) where the stage's own training does: its val/loss
        # against what shuffled labels reach on unseen examples (an input-blind predictor: the label
        # frequencies), not against the task's chance_loss, which may be far above that (uniform guessing
        # over imbalanced classes; uniform per-frame CTC: 6.2 where label priors alone reach 2.7)
        blind = min(hs, chance) if chance else hs
        if val is not None and val < c.label_val_ratio * blind:
            return skipped("labels_not_learnable", f"the stage's own training predicts unseen examples better "
                           f"than labels blind to the inputs do (val/loss {num(val)} vs {num(blind)}, the "
                           "held-out loss of shuffled labels): the labels follow from the inputs")
        guessed = _beyond_guessing(run, targets, c.label_acc_margin)
        if guessed:
            # an overconfident model's held-out cross-entropy can sit above the blind one while its accuracy does not
            # (holdout26's pairsum: val/acc 0.575 of 19 sums on an inserted stage, where 200 steps on 256 pairs
            # generalise nothing with either label set)
            return skipped("labels_not_learnable", guessed)
        return Diagnosis("labels_not_learnable", "error",
                         f"fresh weights trained on {pool} examples predict {len(held_idx)} unseen ones no better "
                         f"with the real labels than with shuffled ones (held-out loss {num(hr)} vs {num(hs)}): the "
                         "labels do not follow from the inputs", evidence=evidence,
                         fix="check that inputs and labels stay aligned (shuffling, sorting, augmentations, indexing)")
    if pool >= c.label_shuffled_examples and _worse_than_shuffled(c, fr, fs, r0):
        # targets swapped between examples keep their values and lose only their pairing, so labels unrelated to
        # the inputs fit as well as shuffled ones. Real labels that fit clearly worse, while not memorised, work
        # against what the model computes from the inputs (benchmarks/holdout20's keypoint targets kept as (row,
        # col) for a soft-argmax's (x, y): shuffled 0.0039, real 0.0157 on 100 images). One pair of runs can
        # be luck (a clean VGG on 10 images: its real-label run lost its units, 0.485 vs 1.45e-05), so a second
        # pair, in another batch order against another shuffle, must agree
        again = _shuffled_better_again(ctx, chosen, pool, real, alike, iterations)
        if again is not None:
            fr2, fs2 = again
            return Diagnosis(
                "labels_not_learnable", "error",
                f"fresh weights fit shuffled labels better than the real ones, twice in {iterations} iterations "
                f"(best final loss {num(fs)} vs {num(fr)}, then {num(fs2)} vs {num(fr2)}; the real loss fell only "
                f"from {num(r0)}): labels unrelated to the inputs would fit as well as shuffled ones, so the real "
                "ones work against the inputs as the model reads them (transposed, misaligned, in another order "
                "than the model's outputs)",
                evidence={**evidence, "ratio": num(fr / max(fs, 1e-12)), "shuffled_better": True,
                          "real_final_again": num(fr2), "shuffled_final_again": num(fs2)},
                fix="check that inputs and labels stay aligned, and that the targets' layout (axes, order, units) "
                    "is the one the model's outputs have")
    if fs < c.label_memorised * s0:
        wider = wider_context(ctx) if pool < c.label_examples else None
        if wider is not None:  # (a first stage of 10 examples): judged on the examples of the task it builds up to
            return labels_not_learnable(wider)
        return skipped("labels_not_learnable", f"shuffled labels were memorised too (loss {num(s0)} -> {num(fs)}): "
                       f"{pool} examples are too few to tell real labels from noise")
    if fr <= c.label_ratio * fs:
        return None
    # neither set was memorised, so the two may fit equally badly because of the LR (too high to settle):
    # at a tenth of it, real labels that follow from the inputs pull ahead of shuffled ones
    slow = ctx.fresh_model()
    slow_b = copy.deepcopy(slow)
    slow_real, _ = _train(ctx, slow, real, c.label_iterations, pool, lr=run.base_lr / 10)
    slow_shuf, _ = _train(ctx, slow_b, lambda idx: _to(run, shuffled(idx)), c.label_iterations, pool,
                          lr=run.base_lr / 10)
    sr, ss = _late_best(slow_real), _late_best(slow_shuf)
    if math.isfinite(sr) and math.isfinite(ss) and sr <= c.label_ratio * ss:
        return skipped("labels_not_learnable", f"at the stage's LR {num(run.base_lr)} real and shuffled labels fit "
                       f"equally badly ({num(fr)} vs {num(fs)}), but at a tenth of it the real ones fit better "
                       f"({num(sr)} vs {num(ss)}): the LR, not the labels")
    return Diagnosis("labels_not_learnable", "error",
                     f"fresh weights fit the real labels no better than shuffled ones in {iterations} "
                     f"iterations (best final loss {num(fr)} vs {num(fs)}): the labels do not follow from the inputs",
                     evidence={**evidence, "ratio": num(fr / max(fs, 1e-12))},
                     fix="check that inputs and labels stay aligned (shuffling, sorting, augmentations, indexing)")


# warnings about the model itself, after which a labels verdict would be blaming the data for the model.
# Not dead_units: a layer with half its units dead still learns (a clean DeepSets model converges so), and
# a model that cannot learn at all is caught by the check's own rule (the real labels must train)
MODEL_PROBLEMS = {"saturated_units", "vanishing_gradients", "exploding_gradients", "bad_init_loss",
                  "nonfinite", "params_not_updating", "batch_dependence", "unstable_softmax", "division_by_zero",
                  "log_of_zero"}


# ... and of those, the ones the weights carry into the stages warm-started from them: a recurrent state pinned
# at the rails by the init (benchmarks/bugsuite's large_init_rnn: 26% on fresh weights, seen again only below
# the general limit after the warm start) is still pinned, and still what keeps the labels from being learnt
CARRIED = {"saturated_units", "vanishing_gradients"}


# ... and those said of the fresh weights themselves, which the label check trains again on every stage: the init
# check runs on first stages only (holdout20's fourier/output_bias_100: bad_init_loss at the start, then real and
# shuffled labels both stuck at 170 on a later stage read as labels that do not follow from the inputs)
FRESH = {"bad_init_loss"}


def _model_problems(run) -> list:
    own = {d["code"] for d in run.stage.diagnoses if d["code"] in MODEL_PROBLEMS and d["severity"] != "info"
           and not _loss_only(d)}
    # a loss that counts padded positions, found where the weights came from (the start checks run on fresh weights
    # only), is the same loss here
    padded = {d["code"] for d in run.inherited_findings if (d.get("evidence") or {}).get("padding")
              and d["code"] == "batch_dependence"}
    return sorted(own | padded | ((CARRIED | FRESH) & set(run.inherited)))


def _loss_only(d: dict) -> bool:
    """A batch dependence of the loss alone (the outputs were each example's own): the model is well, and what the
    loss pairs them with is in question, which is the label check's to judge (targets flattened in another order
    than the outputs give each output another example's target)."""
    evidence = d.get("evidence") or {}
    # ... but not when the padding a batch adds moves each example's loss (a normalisation over padded positions):
    # that is the loss's own fault, and real and shuffled labels meet it alike
    return d["code"] == "batch_dependence" and "batch_loss" in evidence and not evidence.get("padding")


def _reads_source(ctx: Context, batch, swapped) -> bool:
    """Whether fresh weights give different outputs when each example gets another one's source. A zero-initialised
    weight (a zero head) gives every input the same output on purpose: then it cannot tell, and says yes (the training
    runs judge; holdout47's segments, a CNN reading only its pixels, was said to read none of them)."""
    model = ctx.fresh_model()
    if zero_initialised(list(model.named_parameters())) is not None:
        return True
    model.eval()
    with torch.no_grad():
        a, b = run_model(ctx.problem, model, batch), run_model(ctx.problem, model, swapped)
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape):
        return True  # cannot tell: let the training runs judge
    return bool(((a.float() - b.float()).abs() > 1e-6 * (1 + a.float().abs())).any())


def _same_for_all(ctx: Context, batch) -> Optional[Diagnosis]:
    """`labels_not_learnable` (error) when fresh weights give every example of the batch the same output (within
    1e-6) though their inputs differ, and no weight is zero-initialised (a zero head gives every example its bias on
    purpose): the model reads none of its inputs (holdout44's twinletter: a causal mask copied onto an encoder whose
    CLS token comes first, so it attends to itself alone), and no label can be learnt from them."""
    model = ctx.fresh_model()
    if zero_initialised(list(model.named_parameters())) is not None:
        return None
    rows = _output_rows(ctx.problem, model, batch)
    if rows is None or not _alike_rows(rows) or not _inputs_differ(ctx.problem, batch, len(rows)):
        return None  # the outputs differ, or the examples' inputs are alike too
    return Diagnosis(
        "labels_not_learnable", "error", f"fresh weights give all {len(rows)} examples of a batch the same output, "
        "though their inputs differ: the model reads none of its inputs (a mask that lets the pooled or first position "
        "see only itself, a causal mask on an encoder whose summary token comes first, inputs detached or replaced), "
        "so no label can be learnt from them",
        evidence={"examples": len(rows), "same_output": True},
        fix="check the masks and the path from the inputs to the output (which positions the pooled or CLS token "
            "can attend to)")


def _trained_blind(ctx: Context, model, batch) -> bool:
    """After training, `model` gives every example of `batch` the same output (within 1e-6) although their inputs
    differ, and it did not as built (`ctx.fresh_model()`): the training drove it to ignore its inputs."""
    try:
        now = _output_rows(ctx.problem, model, batch)
        if now is None or not _alike_rows(now):
            return False
        fresh = _output_rows(ctx.problem, ctx.fresh_model(), batch)
        if fresh is not None and _alike_rows(fresh):
            return False
    except Exception:  # noqa: BLE001 - a model the question cannot run: the check goes on as before
        return False
    return _inputs_differ(ctx.problem, batch, len(now))


def _output_rows(problem, model, batch) -> Optional[torch.Tensor]:
    """`model`'s eval-mode output on `batch` as (examples, values) floats; None when it is not a floating tensor of
    two or more examples."""
    model.eval()
    with torch.no_grad():
        out = run_model(problem, model, batch)
    if not isinstance(out, torch.Tensor) or out.dim() < 1 or len(out) < 2 or not out.is_floating_point():
        return None
    return out.float().reshape(len(out), -1)


def _alike_rows(rows: torch.Tensor) -> bool:
    """Every row of a (examples, values) output is the first one, within 1e-6, and finite."""
    return bool(torch.isfinite(rows).all()) and not bool(((rows - rows[:1]).abs() > 1e-6 * (1 + rows[:1].abs())).any())


def _inputs_differ(problem, batch, n: int) -> bool:
    """Some batch-first tensor of `batch` besides the targets differs between its `n` examples."""
    targets = batch_targets(problem, batch)
    inputs = [t for t in tensors_in(batch) if t.dim() and len(t) == n and t is not targets]
    return any(bool((t.reshape(len(t), -1) != t.reshape(len(t), -1)[:1]).any()) for t in inputs)


def _with_targets(problem, batch, other):
    """`batch` with the targets of `other`, or, for a dict batch, with the model input of `other` (None when
    the layout has neither that can be swapped)."""
    if isinstance(batch, dict):
        # in a dict batch the targets may also be an input (a decoder's shifted target words), so the
        # pairing is broken on the other side: each example gets another example's source (with the keys
        # that describe it, e.g. its length)
        side = source_keys(batch, batch_targets(problem, batch))
        if not side or not all(isinstance(other.get(k), torch.Tensor) and isinstance(batch[k], torch.Tensor)
                   and other[k].shape[:1] == batch[k].shape[:1] for k in side):
            return None
        return {**batch, **{k: other[k] for k in side}}
    if not (isinstance(batch, (list, tuple)) and len(batch) >= 2):
        return None
    t = batch_targets(problem, batch)
    at = next((i for i, v in enumerate(batch) if v is t), None)
    if at is None or not isinstance(other[at], torch.Tensor) or other[at].shape != t.shape:
        return None
    return same_sequence(batch, [other[at] if i == at else v for i, v in enumerate(batch)])


def _fit_one(ctx: Context, lr: float, optim=None) -> tuple[float, float, bool, nn.Module, Any]:
    """Fresh weights trained on one example at `lr`: (first loss, last loss, fits, the trained model, the example)."""
    one = _to(ctx.run, ctx.problem.get_batch(torch.tensor([0])))
    start, end, model = _fit(ctx, lambda step: one, ctx.cfg.overfit_iterations, lr, optim)
    return start, end, math.isfinite(end) and end <= ctx.cfg.overfit_fraction * start, model, one


def _predicts(ctx: Context, model: nn.Module, batch) -> bool:
    """Classification outputs (..., classes) over integer targets (...) whose top class is the target at every
    position the targets score (a target in [0, classes): ignore_index and padding aside). False when the layout is
    not that one (no verdict)."""
    model.eval()
    with torch.no_grad():
        out = run_model(ctx.problem, model, batch)
    targets = batch_targets(ctx.problem, batch)
    if not (isinstance(out, torch.Tensor) and isinstance(targets, torch.Tensor) and out.is_floating_point()
            and not targets.is_floating_point() and out.dim() >= 2 and out.shape[:-1] == targets.shape):
        return False
    scored = (targets >= 0) & (targets < out.shape[-1])
    return bool(scored.any()) and bool((out.argmax(-1)[scored] == targets[scored]).all())


RAISE_LR_FIRST = "raise the LR (see lr_too_low), then look again"


def _no_gradient(ctx: Context, model: nn.Module, one) -> bool:
    """The loss of `one` at `model` reaches no trainable weight at all: every gradient exactly zero."""
    model.train()
    model.zero_grad(set_to_none=True)
    loss = ctx.problem.loss(model, one)
    if not (isinstance(loss, torch.Tensor) and loss.requires_grad):
        return False
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    zero = all(g is None or not bool(g.any()) for g in grads) and any(g is not None for g in grads)
    model.zero_grad(set_to_none=True)
    return zero


def overfit_batch_size_1(ctx: Context) -> Optional[Diagnosis]:
    iterations, lr = ctx.cfg.overfit_iterations, ctx.run.base_lr
    if compares_examples(ctx.problem, ctx.fresh_model(), lambda i: _to(ctx.run, ctx.problem.get_batch(i))):
        return skipped("overfit_batch_size_1", "every example alone has the same loss at fresh weights: the loss "
                       "compares examples within a batch (in-batch negatives, pairs), one example has nothing to fit")
    if ctx.lr_suspect:  # 300 steps at an LR already named too small would only say so again
        return skipped("overfit_batch_size_1", f"lr_too_low names the LR {num(lr)} too small: one example would "
                       "not fit at it either", fix=RAISE_LR_FIRST)
    start, end, fits, model, one = _fit_one(ctx, lr)
    if not math.isfinite(start):  # not "cannot fit": the loss of one example alone is broken before any step
        if _batches_broken_at_start(ctx.run):
            return None  # said at iteration 0 for the stage's own batches: one example alone adds nothing
        return one_example_nonfinite(ctx, start)
    evidence = {"start_loss": num(start), "final_loss": num(end), "iterations": iterations, "lr": num(lr),
                "fits": fits}
    if fits:
        return Diagnosis("overfit_batch_size_1", "info",
                         f"fresh weights fit one example (loss {num(start)} -> {num(end)}): the model can learn; "
                         f"the failure is more likely data, capacity or optimisation", evidence=evidence,
                         fix="look at the other diagnoses; try more iterations, a different LR or a larger model")
    if math.isfinite(end) and end > 0 and _no_gradient(ctx, model, one):
        # stuck where no gradient reaches any weight: not steps too small (a larger one may jump past the clamp by
        # chance: holdout57's orchards/relu_on_scores fit at 100x, and the LR was blamed)
        return Diagnosis(
            "loss_floor", "warning", f"fresh weights trained on one example for {iterations} iterations at LR "
            f"{num(lr)} stop at a loss of {num(end)} (from {num(start)}) where no gradient reaches any weight: the "
            "outputs are clamped there or every unit on the way is off (a ReLU after the last layer, dead units)",
            evidence={**evidence, "no_gradient": True},
            fix="look for a ReLU or clamp after the output layer, or a layer whose units are all off; the loss must "
                "keep a gradient wherever the outputs are wrong")
    # a net that cannot fit one example has a bug, unless its steps are too small to get anywhere: a higher
    # LR that fits it says so (a bug in the model, loss or data does not go away with a bigger step). Not after an
    # output clamp or squash was named: bigger steps push the one example past the slow edge, and the LR is not it
    for factor in () if ctx.floor else (10, 100):
        s2, e2, fits2, _, _ = _fit_one(ctx, lr * factor)
        if fits2:
            return Diagnosis(
                "lr_too_low", "warning",
                f"fresh weights cannot fit even one example in {iterations} iterations at LR {num(lr)} "
                f"(loss {num(start)} -> {num(end)}), but do at LR {num(lr * factor)} ({num(s2)} -> {num(e2)}): "
                f"the steps are too small", evidence={**evidence, "fits_at_lr": num(lr * factor),
                                                      "final_loss_there": num(e2)},
                fix=f"raise the LR (e.g. optim.lr={lr * factor:g}) or let the LR probe choose it")
    decay, undecayed = _decay_of(ctx.run.settings.optim), _without_decay(ctx.run.settings.optim)
    if math.isfinite(end) and undecayed is not None:
        # the optimiser's weight decay pulls every weight to 0 at each step: a floor it makes goes away without it
        s3, e3, fits3, _, _ = _fit_one(ctx, lr, undecayed)
        if fits3:
            return Diagnosis(
                "loss_floor", "warning", f"fresh weights cannot fit one example in {iterations} iterations at LR "
                f"{num(lr)} (loss {num(start)} -> {num(end)}), nor at 10x and 100x, but do without the optimiser's "
                f"weight decay ({num(s3)} -> {num(e3)}): a decay of {num(decay)} holds the loss at a floor",
                evidence={**evidence, "weight_decay": num(decay), "final_loss_without": num(e3)},
                fix="lower the weight decay (1e-4 with Adam's coupled L2, ~0.01-0.1 with AdamW)")
    if math.isfinite(end) and end <= ctx.cfg.overfit_floor * start:
        # the loss fell 2.5x and more, yet stays above 0: the example is learnt, down to a floor of the loss itself
        # (label smoothing 0.1: 0.61 of 2.88 over 23 classes, 29% of the start for 2); a model that cannot learn it
        # gets nowhere near, and a loss normalised over the wrong dimension stopped at 53%
        return Diagnosis(
            "overfit_batch_size_1", "info",
            f"fresh weights fit one example down to a floor of the loss (loss {num(start)} -> {num(end)}, "
            f"{end / start:.0%} of its start, in {iterations} iterations at LR {num(lr)}, and no lower at 10x and "
            "100x): label smoothing or a penalty in the loss keeps it above 0; the model can learn",
            evidence={**evidence, "floor": True, "floor_fraction": ctx.cfg.overfit_floor},
            fix="if the loss has no such term, check its reduction and the dimension it normalises over")
    if math.isfinite(end) and end < start and _predicts(ctx, model, one):
        # learnt, as its prediction shows, yet its loss stays high: not a model that cannot fit, a loss that cannot
        # fall (holdout28's digitcnn: cross_entropy on softmax outputs, whose floor is log(e + 9) - 1 = 1.46 of 2.31)
        return Diagnosis(
            "loss_floor", "warning",
            f"fresh weights fit one example's prediction in {iterations} iterations (the top class is its target), "
            f"but its loss stays at {num(end)} ({end / start:.0%} of its start {num(start)}), at LR {num(lr)} nor "
            "lower at 10x and 100x: the loss has a floor far above 0", evidence={**evidence, "predicted": True},
            fix="check the loss: a softmax/sigmoid before a loss that applies its own (cross_entropy, "
                "BCEWithLogits), a log-softmax over the wrong dimension, targets on the wrong scale, a constant term")
    return Diagnosis("overfit_batch_size_1", "error",
                     f"fresh weights cannot fit even one example in {iterations} iterations "
                     f"(loss {num(start)} -> {num(end)}), at LR {num(lr)} nor at 10x and 100x: likely a bug in "
                     f"the model, loss or data", evidence=evidence,
                     fix="check the loss (targets, reduction), frozen layers and detached outputs")


def _decay_of(optim) -> float:
    return float(optim.args.get("weight_decay", 0.0) if optim._target_ else optim.weight_decay)


def _without_decay(optim):
    """The optimiser settings without weight decay, or None when there is none to take away."""
    if not _decay_of(optim) > 0:
        return None
    return replace(optim, weight_decay=0.0, args={k: v for k, v in optim.args.items() if k != "weight_decay"})


def _batches_broken_at_start(run) -> bool:
    """The stage's own batches gave a non-finite loss before any update (the init checks or the first window said
    so): a one-example loss that is non-finite too is the same fault, not one the batches hide."""
    return any(d["code"] == "nonfinite" and (d.get("evidence") or {}).get("before_update")
               and not (d.get("evidence") or {}).get("one_example") for d in run.stage.diagnoses)


def one_example_nonfinite(ctx: Context, loss: float) -> Diagnosis:
    """The loss of fresh weights on one example alone is non-finite while the stage's batches trained: a per-example
    quantity is 0 for some examples (a mean over a mask that is empty when an example has no padding: 0/0), which a
    batch average hides. The op is traced, as for a non-finite step (trace.py)."""
    from .trace import CAUSE_CODE, CAUSES, cause_text, op_place, trace_step
    one = _to(ctx.run, ctx.problem.get_batch(torch.tensor([0])))
    trace = trace_step(ctx.fresh_model(), ctx.problem.loss, one)
    cause = trace.get("cause")
    where = f" ({op_place(trace)})" if trace.get("op") else ""
    code = CAUSE_CODE.get(cause, cause) if cause else None
    said = cause_text(trace) if cause in CAUSES else "a value turned non-finite"
    return Diagnosis(
        code if code and code != "nonfinite" else "nonfinite", "error",
        f"the loss of one example alone is {num(loss)} at fresh weights{where}: {said}. The stage's batches hide it "
        "(an example for which a count or a sum is 0, e.g. a mean over a mask that is empty for it)",
        evidence={"loss": num(loss), "trace": trace, "cause": cause, "before_update": True, "one_example": True},
        fix=CAUSES[cause][1] if cause in CAUSES else "check per-example denominators and masks (what is 0 for an "
        "example without padding, or with nothing to predict)")


def batched_like_one(ctx: Context) -> Optional[Diagnosis]:
    """The method's "batch-size-1 vs batched consistency", after one example was fitted: fresh weights trained on
    the same few examples (`failure.consistency_examples`, 16) as one batch fetched anew at each step, for
    `failure.overfit_iterations` (300) steps at the stage's LR, against
    - the same batch fetched once, when the task's batch function is random (two fetches of the same examples
      differ: augmentation): the fixed fetch fits (loss below `failure.overfit_fraction` x its start) while the
      fresh fetches stay above a quarter of their start. Each fetch pairs the inputs with other targets (an augmentation
      that reorders inputs without their targets), so nothing fixed is there to learn.
    - the examples one at a time: they fit (each example's own loss below `failure.overfit_fraction` x its start)
      while the batch stays above half its start: putting the examples together breaks them (the batch function
      reorders inputs without their targets, a layer mixes examples). A model that cannot train at batch size 1
      (BatchNorm over one value) gets no verdict."""
    if not ctx.fitted_one:
        return None
    run, problem = ctx.run, ctx.problem
    k = min(problem.train_size, ctx.cfg.consistency_examples)
    if k < 4:
        return None
    idx = torch.arange(k)
    steps = ctx.cfg.overfit_iterations
    start, end = _fit(ctx, lambda step: _to(run, problem.get_batch(idx)), steps)[:2]
    if not (math.isfinite(start) and math.isfinite(end)):
        return None
    evidence = {"examples": k, "as_one_batch": [num(start), num(end)], "lr": num(run.base_lr)}
    fetched = _to(run, problem.get_batch(idx))
    # a random batch function (augmentation: the same targets, other inputs) whose fetches do not fit: fetched once
    # vs anew. A proper augmentation of a few examples fits nearly as well as one fetch of them (random flips: both
    # to ~0); a misaligned one only where the pairing happens to hold (~half the start). Fetches whose targets
    # differ too read on through a stream (truncated BPTT's next chunks): no fixed set of examples to compare
    again = _to(run, problem.get_batch(idx))
    if end > 0.25 * start and inputs_vary(problem, fetched, again):
        f_start, f_end = _fit(ctx, lambda step: fetched, steps)[:2]
        if math.isfinite(f_end) and f_end <= ctx.cfg.overfit_fraction * f_start:
            return Diagnosis(
                "labels_not_learnable", "error",
                f"{k} examples fetched once are fitted (loss {num(f_start)} -> {num(f_end)}), but the same examples "
                f"fetched anew at each step are not ({num(start)} -> {num(end)}) at the same LR: each fetch of the "
                "batch function pairs the inputs with other targets, so there is nothing fixed to learn",
                evidence={**evidence, "fetched_once": [num(f_start), num(f_end)], "fetch_dependent": True},
                fix="check that the batch function's random augmentation moves each input with its own target (a "
                    "subset augmented and concatenated to the rest reorders the inputs alone)")
    if end <= 0.5 * start:
        return None  # the batches train
    one = _fit(ctx, lambda step: _to(run, problem.get_batch(idx[step % k:step % k + 1])), steps)[2]
    fresh = ctx.fresh_model()
    fresh.eval(), one.eval()  # each example's own loss, without dropout's noise
    with torch.no_grad():
        alone = [(float(problem.loss(fresh, _to(run, problem.get_batch(idx[i:i + 1])))),
                  float(problem.loss(one, _to(run, problem.get_batch(idx[i:i + 1]))))) for i in range(k)]
    first, last = sum(a for a, _ in alone) / k, sum(b for _, b in alone) / k
    evidence["one_at_a_time"] = [num(first), num(last)]
    if not (math.isfinite(first) and math.isfinite(last) and 0 < first and last <= ctx.cfg.overfit_fraction * first):
        return None
    if start > 2 * first:  # a loss summed over the batch: as one batch it takes k-times larger steps at this LR
        return None
    # a model that mixes examples in training (BatchNorm) still trains on batches, and one that mixes them in eval
    # is the start check's: what breaks here is which target goes with which input
    return Diagnosis("labels_not_learnable", "error",
                     f"{k} examples are fitted one at a time (their loss {num(first)} -> {num(last)}) but not as one "
                     f"batch ({num(start)} -> {num(end)}) at the same LR: in a batch the inputs do not meet their own "
                     f"targets, so the batch function (or a layer) pairs examples with other examples' targets",
                     evidence={**evidence, "batched_vs_one": True},
                     fix="check that the batch function keeps inputs and targets in the same order (a shuffle, "
                         "augmentation or sort applied to the inputs alone) and that no layer mixes the batch")


def _fit(ctx: Context, batch_at, steps: int, lr: Optional[float] = None, optim=None) -> tuple[float, float, nn.Module]:
    """Fresh weights trained `steps` steps at `lr` (default the stage's) on `batch_at(step)`, with `optim` (default the
    stage's optimiser settings): (first loss, best of the last 10, the model)."""
    model = ctx.fresh_model()
    opt = make_optimizer(model.parameters(), optim or ctx.run.settings.optim, lr or ctx.run.base_lr)
    model.train()
    losses = torch.stack([optimisation_step(model, opt, ctx.problem, batch_at(step)) for step in range(steps)])
    values = losses.tolist()  # one read
    return values[0], min(values[-10:]), model


def _loss_trace(run):
    """The stage's LossAndMeasure (mismatch.py: its losses' ends, training measures and curve), or None."""
    from .mismatch import LossAndMeasure
    from .stepstats import StepStats
    return next((c for m in run.monitors if isinstance(m, StepStats) for c in m.consumers
                 if isinstance(c, LossAndMeasure)), None)


def loss_mismatch(ctx: Context) -> Optional[Diagnosis]:
    """The optimised loss fell to `failure.mismatch_fall` (0.5) x its start over the stage while no training-side
    measure of the task (`train/loss`, `train/acc`, ...) moved (mismatch.py)."""
    trace = _loss_trace(ctx.run)
    found = trace.verdict(ctx.cfg.mismatch_fall, ctx.cfg.mismatch_evaluations) if trace is not None else None
    if found is None:
        unmet = trace.memorised_unmet(ctx.cfg.mismatch_evaluations) if trace is not None else None
        return _memorised_unmet(*unmet) if unmet is not None else None
    start, now, flat = found
    said = ", ".join(f"{k} {num(a)} -> {num(b)}" for k, (a, b) in flat.items())
    return Diagnosis("loss_mismatch", "error",
                     f"the loss the optimiser minimises fell from {num(start)} to {num(now)} while the task's own "
                     f"training measures did not move ({said}): the loss does not measure the task",
                     evidence={"loss": [num(start), num(now)], "measures": {k: [num(a), num(b)] for k, (a, b) in
                                                                            flat.items()}},
                     fix="check the loss's dimensions (cross_entropy wants classes at dim 1: logits.transpose(1, 2) "
                         "or flatten both), and that it reads the same targets as the metrics")


def _memorised_unmet(loss: float, allowed: float, short: dict) -> Diagnosis:
    said = ", ".join(f"{k} {num(v)}" for k, v in short.items())
    return Diagnosis(
        "loss_mismatch", "error", f"the optimised loss is memorised ({num(loss)}: at most {(1 - allowed):.1%} of the "
        f"positions it scores can be wrong) while the task's training accuracy is not ({said}): the accuracy counts "
        "positions or targets the loss never sees (a label mask off by one, an ignore_index on a real token, metrics "
        "on other targets than the loss's)",
        evidence={"loss": num(loss), "accuracy_allowed": round(allowed, 4), "measures": {k: num(v) for k, v in
                                                                                        short.items()},
                  "memorised": True},
        fix="compare the positions the loss scores (its mask, ignore_index) with those the accuracy counts")


def lr_too_low(ctx: Context) -> Optional[Diagnosis]:
    """The weights barely move (update/weight ratio < `update_ratio`), or they move slowly (< `update_ratio_slow`,
    below the healthy ~1e-3) at an LR `probe_gap` times or more below the LR probe's NaN threshold: the method
    trains 1-10x below it, and an LR thousands of times lower fails by being slow (Adam's steps scale with the
    LR, so at 1e-5 they are ~1e-4 of the weights: under the first rule's reach, yet the stage crawls)."""
    h = ctx.health
    if h is None or not h.update_ratios or "lr_too_low" in h.fired:  # (fired: said during the stage already)
        return None
    med, overall = update_ratios(h)
    if overall is None:
        return None
    lr = updates_lr(ctx.run, h) if ctx.lr_used else ctx.run.base_lr
    threshold = measured_threshold(ctx.run.probe)
    gap = threshold / lr if threshold and lr > 0 else 0.0
    # a schedule that took the LR down 100x or more (stepped per iteration where it meant epochs, or too short):
    # even weights that stopped moving altogether are its doing then, not frozen ones (params_not_updating's)
    # (judged on the last sample: the LR was fine before it fell)
    last = sorted(v for v in h.update_ratios[-1][1].values() if math.isfinite(v))
    now = last[len(last) // 2] if last else math.inf
    decayed = lr > 0 and ctx.run.lr < ctx.cfg.lr_decayed * lr and now < ctx.cfg.update_ratio_slow
    barely = 0.0 < overall < ctx.cfg.update_ratio  # (exactly 0: frozen weights, params_not_updating's)
    crawling = 0.0 < overall < ctx.cfg.update_ratio_slow and gap >= ctx.cfg.probe_gap
    if not (decayed or barely or crawling):
        return None
    evidence = {"update_ratio": {n: num(v) for n, v in med.items()}, "median": num(overall),
                "threshold": ctx.cfg.update_ratio, "lr": num(lr)}
    message = f"the weights barely move: median update/weight ratio {num(overall)} per step (healthy ~1e-3)"
    fix = f"raise the LR (e.g. x{num(min(1e3, 1e-3 / max(overall, 1e-12)))}) or run the LR probe"
    if decayed:
        evidence.update(lr_at_end=num(ctx.run.lr), threshold=ctx.cfg.update_ratio_slow, last_sample=num(now))
        message = (f"the LR fell from {num(lr)} to {num(ctx.run.lr)} during the stage and the weights barely move "
                   f"(update/weight ratio {num(now)} per step at the last sample; healthy ~1e-3): the schedule "
                   "decays it too fast")
        fix = ("check the scheduler: how often it steps (per iteration, where its settings mean epochs?) and over "
               "how many steps it decays")
    elif overall >= ctx.cfg.update_ratio or crawling:  # the second rule (the first too, when it also holds: the
        # LR far below the threshold is then the reason the weights barely move, and its fix range is known)
        evidence.update(nan_threshold=num(threshold), below_threshold=num(gap), threshold=ctx.cfg.update_ratio_slow)
        used = f" (the LR set is {num(ctx.run.base_lr)}; the schedule kept it below)" if lr < ctx.run.base_lr else ""
        message = (f"the LR {num(lr)}{used} is {gap:.0f}x below the NaN threshold {num(threshold)} the LR probe found "
                   f"(the method trains 1-10x below it) and the weights move slowly: median update/weight ratio "
                   f"{num(overall)} per step (healthy ~1e-3)")
        fix = f"raise the LR towards {num(threshold / 10)}-{num(threshold / 3)} (1-10x below the threshold)"
    return Diagnosis("lr_too_low", "warning", message, evidence=evidence, fix=fix)


def update_ratios(health) -> tuple[dict, Optional[float]]:
    """Each layer's median update/weight ratio over the stage's health samples, and their median (None: none)."""
    per_layer = {}
    for _, ratios in health.update_ratios:
        for n, r in ratios.items():
            per_layer.setdefault(n, []).append(r)
    med = {n: sorted(v)[len(v) // 2] for n, v in per_layer.items() if v}
    finite = sorted(v for v in med.values() if math.isfinite(v))
    return med, (finite[len(finite) // 2] if finite else None)


def measured_threshold(probe: Optional[dict]) -> float:
    """The LR probe's NaN threshold, when a probe above it failed (0.0 when none did: the first LR tried trained
    cleanly, so the threshold is only the top of the probe's range. A bounded output, a sigmoid, diverges at no LR:
    holdout46's rings at 0.001 read as 1000x below a 'threshold' of 1.0, which switched off the one-example fit)."""
    probe = probe or {}
    runs = probe.get("probes")
    if runs is not None and all(r.get("outcome") == "clean" for r in runs):
        return 0.0
    return float(probe.get("threshold") or 0.0)


def updates_lr(run, health) -> float:
    """The LR the stage's measured updates used, at its highest (the optimizer's own at each health sample), where
    that is below the LR set: a warm-up written in examples rather than steps keeps it far below for the whole stage
    (holdout43's swappairs: 1e-6..2e-5 for 1e-3)."""
    lrs = getattr(health, "sample_lrs", None)
    return min(run.base_lr, max(lrs)) if lrs else run.base_lr


def crawling_lr(c: FailureConfig, run, outcome) -> Optional[Diagnosis]:
    """lr_too_low on a stage that met its goal: only the rule that compares the LR with the probe's NaN threshold
    (`below_threshold`), and only `success_gap` (3000) times below it or more (the suites' clean configs: <= 333x;
    LR bugs >= 11000x). holdout17's lstmcopy at 3e-5, 11,000x below, met every goal ~25x slower and was never
    told why."""
    from .health import HealthMonitor
    found = _crawling(c, run, _monitor(run, HealthMonitor))
    if found is not None:
        found.message += f"; the stage met its goal, slowly ({outcome.iterations} iterations)"
    return found


def crawling_early(c: FailureConfig, run, health) -> Optional[Diagnosis]:
    """crawling_lr's rule during the stage, from the health monitor's second update sample (iteration ~50). Said
    then, not after the stage's 2000 iterations (holdout18's revformer at 1e-6: 111,111x below, named only at 39 s)."""
    found = _crawling(c, run, health, lr_used=False)
    if found is not None:
        found.message += f", from the stage's first {run.iteration} iterations"
    return found


def _crawling(c: FailureConfig, run, health, lr_used: bool = True) -> Optional[Diagnosis]:
    """lr_too_low's second rule alone, at `success_gap` (3000) times or more below the probe's NaN threshold (the
    other rules judge failed stages only). Not on a stage that starts from the weights of one that said it (the same
    LR). `lr_used`: judge the LR the measured updates used (a warm-up's) rather than the one set; not during the
    stage's first iterations, where a proper warm-up is still climbing."""
    threshold = measured_threshold(run.probe)
    lr = updates_lr(run, health) if lr_used else run.base_lr
    if "lr_too_low" in run.inherited or not (lr > 0 and threshold >= c.success_gap * lr):
        return None
    found = lr_too_low(Context(c, run, None, None, health, lr_used=lr_used))
    return found if found is not None and "below_threshold" in found.evidence else None


def lr_near_threshold(ctx: Context) -> Optional[Diagnosis]:
    """`lr_too_high` without a NaN: the stage trained within `high_gap` (100x) of the LR probe's NaN threshold and
    failed; fresh weights trained on its first examples reach a loss below `high_better` (0.5) x at a tenth of its LR
    than at the LR itself. A normalised net under Adam stays finite far above its best LR and learns nothing there
    (benchmarks/holdout26's memberlm at 0.1, threshold 0.111: training accuracy stuck at 0.84 on 10 sequences, half
    its GELU units dead); Adam's steps are the LR's size whatever the gradient, so its NaN threshold can lie far above
    the LR it learns at (holdout51's keyshift at 0.05, 20x below a threshold of 1.0: validation stuck at 0.79, a
    tenth of it fits 2x lower). Judged against the same run at a tenth: a clean LR trains faster than a tenth of it,
    so this compares the two LRs, not a model with a bar."""
    run, c = ctx.run, ctx.cfg
    lr, threshold = run.base_lr, float((run.probe or {}).get("threshold") or 0.0)
    if ctx.alarmed or ctx.lr_suspect or not (lr > 0 and threshold > 0 and lr * c.high_gap >= threshold):
        return None  # (alarmed: a check before it named what failed; the LR's part would only be noise beside it)
    if threshold > 10 * lr and drawn_anew(ctx.problem):
        return None  # beyond the method's 1-10x, only on fixed batches: examples drawn anew at each fetch (a random
        # pairing) fit better at a tenth of any LR, which averages their noise (holdout55's stamps)
    fit = _fits_better(ctx, lr, lr / 10)
    if fit is None:
        return None
    pool, at_lr, at_tenth = fit
    within = threshold <= 10 * lr
    why = ("the method trains 1-10x below it, the best LR is not always at the high end" if within else
           "an optimiser that normalises its steps, as Adam does, stays finite far above the LR it learns at")
    low, high = min(threshold, lr) / 10, min(threshold, lr) / 3  # below the LR itself, which was too high
    return Diagnosis(
        "lr_too_high", "warning", f"the LR {num(lr)} is {threshold / lr:.2g}x below the NaN threshold "
        f"{num(threshold)} the LR probe found ({why}), and fresh weights trained on "
        f"{pool} of the stage's examples for {c.label_iterations} iterations reach a loss of {num(at_tenth)} at a "
        f"tenth of it against {num(at_lr)} at the LR itself: the steps are too large to settle",
        evidence={"lr": num(lr), "nan_threshold": num(threshold), "loss_at_lr": num(at_lr),
                  "loss_at_tenth": num(at_tenth), "iterations": c.label_iterations, "examples": pool,
                  "lower_lr_fits": True},
        fix=f"lower the LR to {num(low)}-{num(high)} (3-10x below the lower of the LR and the NaN threshold)")


def loss_climbed(ctx: Context) -> Optional[Diagnosis]:
    """`lr_too_high` from the stage's own training curve: the loss came down (its best window at most
    `failure.climb_fell` (0.8) x the first) and then climbed back, the median of the last tenth of the windows at least
    `failure.climb_back` (25%) of the way from the best back up to the first, and `failure.climb_ratio` (1.25) x the
    best. On the same examples, a loss that rises again means steps too large to stay in the minimum they found: an
    optimiser with a warm-up of its own (RAdam) passes the LR probe's 100 steps at 1.0 and wrecks training later at
    0.2 (holdout55's keypad/radam_lr_0.2: 0.41 at iteration 225, 0.99 by 725); Adam's betas swapped the same
    (holdout51's recipes). Positive losses only (a likelihood below 0 has no scale); not when anything else was said
    about the stage, not for a batch function that draws anew at each fetch (a bug that reshuffles the data as it
    trains climbs too), and not once the LR is named too low."""
    c = ctx.cfg
    if ctx.said_anything() or ctx.lr_suspect:
        return None
    trace = _loss_trace(ctx.run)
    curve = trace.curve if trace is not None else []
    if len(curve) < c.climb_windows:
        return None
    values = [v for _, v in curve]
    start, k = values[0], min(range(1, len(values)), key=lambda i: values[i])
    best, tail = values[k], max(2, len(values) // 10)
    final = sorted(values[-tail:])[tail // 2]
    if not (0 < best <= c.climb_fell * start and k < len(values) - tail):
        return None
    if not (final >= best + c.climb_back * (start - best) and final >= c.climb_ratio * best):
        return None
    if drawn_anew(ctx.problem):
        return None  # a batch function that draws anew at each fetch (augmentation, a roll over the batch) can make the
        # loss climb at any LR (holdout55's stamps/shift_rolled_over_batch)
    lr = ctx.run.base_lr
    return Diagnosis(
        "lr_too_high", "warning", f"the training loss came down from {num(start)} to {num(best)} by iteration "
        f"{curve[k][0]}, then climbed back to {num(final)} by the stage's end, on the same examples: the steps are too "
        "large to stay in the minimum they found (no NaN needed: an optimiser that normalises or warms up its steps "
        "stays finite)", evidence={"loss_start": num(start), "loss_best": num(best), "best_iteration": curve[k][0],
                                   "loss_end": num(final), "lr": num(lr), "loss_climbed": True},
        fix=f"lower the LR (to {num(lr / 10)}-{num(lr / 3)}), or decay it once the loss stops falling")


def lr_far_below(ctx: Context) -> Optional[Diagnosis]:
    """`lr_too_low`, measured: the stage trained `low_gap` (30) times or more below a measured NaN threshold (the
    method trains 1-10x below it) and failed, its weights crawling (update/weight below `update_ratio_slow`), and
    fresh weights trained on its first examples come down from their first loss twice as far (1 / `high_better`)
    at ten times its LR as at the LR itself. Plain SGD at an Adam-sized LR crawls without tripping the update-ratio
    rules, which wait for 1000x (benchmarks/holdout45's progression: SGD at 0.001, 333x below 0.333, three
    intermediate stages before it converged). The mirror of `lr_near_threshold`."""
    run, c = ctx.run, ctx.cfg
    # a probe that went non-finite nowhere up to the top of its range leaves that top as a lower bound of the
    # threshold: as far below it, the LR is as far below (holdout59's sparklines: SGD at 3e-4, clean up to 1.0)
    lr, threshold = run.base_lr, float((run.probe or {}).get("threshold") or 0.0)
    bound = measured_threshold(run.probe) == 0.0
    if ctx.alarmed or ctx.lr_suspect or ctx.health is None or not (lr > 0 and threshold >= c.low_gap * lr):
        return None
    ratio = update_ratios(ctx.health)[1]
    if ratio is None or not ratio < c.update_ratio_slow:
        return None  # the weights move at a healthy pace: Adam's steps are the LR's size, whatever the threshold
    fit = _fits_better(ctx, lr, lr * 10, progress=True)
    if fit is None:
        return None
    pool, at_lr, at_ten = fit
    where = (f"the top of the LR probe's range, {num(threshold)}, where it found no NaN" if bound else
             f"the NaN threshold {num(threshold)} the LR probe found")
    return Diagnosis(
        "lr_too_low", "warning", f"the LR {num(lr)} is {threshold / lr:.3g}x below {where} (the method trains 1-10x "
        f"below the threshold), and fresh weights trained on {pool} of the stage's "
        f"examples for {c.label_iterations} iterations reach a loss of {num(at_ten)} at ten times it against "
        f"{num(at_lr)} at the LR itself: the steps are too small", evidence={
            "lr": num(lr), "nan_threshold": num(threshold), "below_threshold": num(threshold / lr),
            "loss_at_lr": num(at_lr), "loss_at_ten": num(at_ten), "iterations": c.label_iterations,
            "examples": pool, "higher_lr_fits": True, "threshold_is_bound": bound},
        fix=f"raise the LR towards {num(threshold / 10)}-{num(threshold / 3)} (1-10x below the threshold)")


def _fits_better(ctx: Context, lr: float, other: float, progress: bool = False,
                 other_optim=None) -> Optional[tuple]:
    """(examples, loss at `lr`, loss at `other`) when fresh weights trained `label_iterations` steps on the stage's
    first examples reach below `high_better` x the loss at `lr` at `other` (with `other_optim`, the optimiser settings
    of that second run: the decay taken away) (`progress`: come down from the first
    loss at least 1 / `high_better` times as far: a crawl covers little of the way to 0), the loss at `lr` not
    memorised (above `high_floor` x its first: two runs that both fit say nothing, whatever their ratio); else
    None."""
    run, c = ctx.run, ctx.cfg
    n = ctx.problem.train_size
    pool = min(n, c.label_examples)
    chosen = spread(n, pool)[:pool]

    def batch(idx):
        return _to(run, ctx.problem.get_batch(chosen[idx]))

    losses = _train(ctx, ctx.fresh_model(), batch, c.label_iterations, pool, lr=lr)[0]
    at_lr, first = _late_best(losses), losses[0]
    if math.isfinite(at_lr) and at_lr <= c.high_floor * abs(first):
        return None  # memorised at `lr`: the second run is not needed
    at_other = _late_best(_train(ctx, ctx.fresh_model(), batch, c.label_iterations, pool, lr=other,
                                 optim=other_optim)[0])
    if not (math.isfinite(at_other) and at_other >= 0):
        return None
    if progress:
        better = math.isfinite(at_lr) and first - at_other >= (first - at_lr) / c.high_better and at_other < at_lr
    else:
        better = not math.isfinite(at_lr) or at_other < c.high_better * at_lr
    return (pool, at_lr, at_other) if better else None


def decay_floor(ctx: Context) -> Optional[Diagnosis]:
    """`loss_floor`, the optimiser's weight decay: fresh weights trained `label_iterations` steps on the stage's first
    examples reach below `high_better` x the loss they reach with it when the decay is taken away, that loss not
    memorised (_fits_better). A decay too strong for its optimiser (RMSprop or Adam's coupled L2 at 1, AdamW at 10)
    pulls every weight back to 0 at each step: one example may still fit, and nothing is non-finite, dead or saturated
    (holdout51's gridload/rmsprop_weight_decay_1). Only when the optimiser decays and no check of this failure said
    anything."""
    undecayed = _without_decay(ctx.run.settings.optim)
    if undecayed is None or ctx.alarmed or ctx.lr_suspect or ctx.unfit:
        return None
    lr, c = ctx.run.base_lr, ctx.cfg
    fit = _fits_better(ctx, lr, lr, other_optim=undecayed)
    if fit is None:
        return None
    pool, with_decay, without = fit
    decay = _decay_of(ctx.run.settings.optim)
    return Diagnosis(
        "loss_floor", "warning", f"fresh weights trained on {pool} of the stage's examples for {c.label_iterations} "
        f"iterations reach a loss of {num(with_decay)} with the optimiser's weight decay {num(decay)}, and "
        f"{num(without)} without it: the decay holds the loss at a floor",
        evidence={"weight_decay": num(decay), "loss_with_decay": num(with_decay), "loss_without": num(without),
                  "examples": pool, "iterations": c.label_iterations},
        fix="lower the weight decay (1e-4 with coupled L2 in SGD/Adam/RMSprop, ~0.01-0.1 with AdamW)")


def _monitor(run, kind):
    """The stage's monitor of type `kind`, or None."""
    return next((m for m in run.monitors if isinstance(m, kind)), None)


class BatchMean(nn.Module):
    """A model whose every output is its mean over the batch: one answer for all examples, blind to which."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, *args, **kwargs):
        return _batch_mean(self.inner(*args, **kwargs))

    def __getattr__(self, name):  # the task's evaluate may read the model's own attributes
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["inner"], name)


def _batch_mean(y):
    if isinstance(y, torch.Tensor):
        return y.mean(0, keepdim=True).expand_as(y) if y.dim() and y.is_floating_point() else y
    if isinstance(y, (list, tuple)):
        return same_sequence(y, [_batch_mean(v) for v in y])
    if isinstance(y, dict):
        return {k: _batch_mean(v) for k, v in y.items()}
    return y


def held_out_blind(ctx: Context) -> Optional[Diagnosis]:
    """A held-out goal (mode max: `val/acc`) that the stage's training left where a model blind to the inputs
    scores it, or below, while the same metric on the training split rose: what the model learns from the
    training labels does not carry over to held-out examples. At the blind score the goal's labels do not follow
    from the inputs (misaligned labels, which the real-vs-shuffled loss comparison misses when another target
    in the loss is still aligned); below it the model is systematically wrong there (the splits disagree: labels
    shifted by one on ordered data, another class order). A hard problem still gains something on held-out
    examples where it fits the training ones."""
    run, goal, c, problem = ctx.run, ctx.run.stage.goal, ctx.cfg, ctx.problem
    train_metric = training_side(goal.metric)
    trained, best = dict(run.last_metrics or {}), ctx.outcome.best
    if goal.mode != "max" or train_metric is None or train_metric not in trained or best is None:
        return None  # a loss-like goal (overfitting raises it too) or no training side to compare with
    if any(d["code"] == "leakage" and d["severity"] == "error" for d in run.stage.diagnoses):
        return None  # the model reads its own targets in training: its training score says nothing
    pool = min(problem.train_size, c.label_examples)
    chosen = spread(problem.train_size, pool)[:pool]
    shuffled = shuffled_batches(problem, chosen)
    if pool < 4 or shuffled(torch.arange(2)) is None:
        return None  # nothing to shuffle: the label check says why
    shuffled, _ = fitting_shuffle(ctx, chosen, shuffled)
    if shuffled is None:
        return None
    # the input-blind reference: fresh weights trained on shuffled labels (they learn the label frequencies),
    # their outputs averaged over each batch (so every example gets the same answer: the most frequent class).
    # Untrained weights are no reference: they map clusters of inputs to arbitrary classes, which on clustered
    # data (digits) scores anywhere from 0.4x to 2x chance
    blind = ctx.fresh_model()
    _train(ctx, blind, lambda idx: _to(run, shuffled(idx)), c.label_iterations, pool)
    blind = BatchMean(blind).eval()
    with torch.no_grad():
        scores = dict(problem.evaluate(blind))
    # the last evaluation, not the best: the best of 40 evaluations of a model at chance is chance + 2 sigma
    last = trained.get(goal.metric, best)
    bv, bt, tb = scores.get(goal.metric), scores.get(train_metric), trained[train_metric]
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (bv, bt, tb, last)):
        return None
    rise, gain = tb - bt, last - bv
    if not (rise > c.blind_margin and rise >= c.blind_rise * abs(tb)
            and gain <= max(c.blind_gain * rise, c.blind_noise)):
        return None
    below = last < bv - c.blind_margin
    evidence = {"metric": goal.metric, "last": num(last), "best": num(best), "blind": num(bv),
                "train_metric": train_metric,
                "train_blind": num(bt), "train_last": num(tb), "below_blind": below}
    said = (f"{train_metric} reached {num(tb)} (a model blind to the inputs: {num(bt)}), but {goal.metric} ended at "
            f"{num(last)} (best {num(best)}), against the blind model's {num(bv)}")
    why = ("below it: what the model learned from the training labels is systematically wrong on the held-out "
           "ones, so the two splits do not pair inputs and labels the same way (a shift by one on ordered data, "
           "another class order)" if below else "what the model learns from the training labels does not carry "
           "over to unseen examples at all: those labels do not follow from the inputs, or the splits differ")
    return Diagnosis(
        "labels_not_learnable", "error", f"{said}: {why}", evidence=evidence,
        fix="check that inputs and labels stay aligned in the training split (shuffling, sorting, an off-by-one, "
            "indexing) and that both splits are built the same way (label mapping, class order, preprocessing)")


# lr_too_low first: when it fires, the checks that retrain at the same LR are read in its light
# overfit_batch_size_1 before labels_not_learnable: a model that cannot fit even one example (a loss with a
# floor, normalised over the wrong dimension) fits real labels no better than shuffled ones either
# an LR measured too low (ten times it fits far better) before the label check, which real and shuffled labels fail
# alike at steps that small, and after the checks that name a bug in the model
# an LR too high to learn at after the checks that name a bug (it retrains twice, and a named bug is the root; the
# label check tells a too-high LR from misaligned labels itself), before the last resorts, which stand down after it
# splits built differently and an ignored input last: the label checks judge the labels as a whole first
# a weight decay that holds the loss at a floor before the label check: real and shuffled labels both stop there
# (holdout58's kiln/weight_decay_0.5, BatchNorm: no one-example fit to find it first)
CHECKS = [lr_too_low, loss_mismatch, unread_output, held_out_blind, bad_init_loss, params_not_updating,
          batch_dependence, unreachable_targets, coarse_output, affine_model, overfit_batch_size_1, batched_like_one,
          eval_mode_differs, lr_far_below, ambiguous_inputs, decay_floor,
          labels_not_learnable, shifted_targets, augmentation_breaks_labels, lr_near_threshold, loss_climbed,
          steps_too_large, splits_differ, ignored_input, cut_sequences]


def batch_dependence_any_size(ctx: Context):
    """A big stage's batch test on the weights it trained (findings only: a big stage is usually just hard)."""
    if ctx.startchecks is None:  # the start checks are off
        return None
    return batch_dependence_trained(ctx.startchecks.c, ctx.run) or None


# a big stage that fails is usually just hard; these still tell a bug (or a bad LR) from that
ANY_SIZE = [lr_too_low, loss_mismatch, unread_output, held_out_blind, batch_dependence_any_size, unreachable_targets,
            coarse_output, affine_model,
            eval_mode_differs, lr_far_below, ambiguous_inputs, decay_floor, labels_not_learnable, shifted_targets,
            augmentation_breaks_labels, lr_near_threshold, loss_climbed, steps_too_large, splits_differ,
            ignored_input, cut_sequences]


def run_checks(c: FailureConfig, run, outcome) -> list[Diagnosis]:
    checks = CHECKS if run.problem.train_size <= c.small_data else ANY_SIZE
    from .health import HealthMonitor
    ctx = Context(c, run, outcome, _monitor(run, StartRecord), _monitor(run, HealthMonitor), _monitor(run, StartChecks))
    ctx.lr_suspect = ctx.health is not None and "lr_too_low" in ctx.health.fired  # said during the stage
    rng = torch.get_rng_state()
    found = []
    for check in checks:
        try:
            result = check(ctx)
        except Exception as e:  # a check that cannot run on this task says so, and the others go on
            result = skipped(check.__name__, f"{type(e).__name__}: {e}", fix=LAYOUT_FIX)
        for d in result if isinstance(result, list) else [result] if result is not None else []:
            d.iteration = d.iteration or outcome.iterations
            ctx.lr_suspect = ctx.lr_suspect or d.code == "lr_too_low"
            ctx.unfit = ctx.unfit or (d.code == "overfit_batch_size_1" and d.severity == "error")
            ctx.fitted_one = ctx.fitted_one or (d.code == "overfit_batch_size_1" and d.severity == "info")
            ctx.floor = ctx.floor or (d.code == "overfit_batch_size_1" and bool(d.evidence.get("floor"))) \
                or (d.code == "loss_floor" and (bool(d.evidence.get("predicted")) or d.severity == "error"
                                                or "final_loss_without" in d.evidence or "loss_without" in d.evidence))
            # (a weight decay's floor: real and shuffled labels both stop there)
            ctx.labels_named = ctx.labels_named or d.code == "labels_not_learnable"
            ctx.alarmed = ctx.alarmed or d.severity in ("warning", "error")
            found.append(d)
    torch.set_rng_state(rng)
    return found
