"""Cheap checks at the start of every stage built from fresh weights, whatever its outcome.

A frozen or detached part, outputs that depend on batch-mates, constant labels: each lets a small
stage still meet its goal, so waiting for a failure hides them. At the start of a stage whose weights
are fresh (iteration 0, no warm start) the monitor runs, in a few forward passes:
- `params_not_updating`: one forward/backward on `start.examples` (64) training examples. Parameters
  with requires_grad=False (warning when they are less than `start.frozen_share` (90%) of the weights:
  a frozen part; info above: a frozen backbone on purpose), not in the optimizer (error), used by the forward
  but reached by no gradient (error: a .detach() or a non-differentiable op cuts them off). A parameter
  the forward never touches is `info` (another variant's part, e.g. an encoder an LM stage does not
  use). A trainable tensor the forward uses that is not a registered parameter (a layer in a plain list,
  a parameter made in forward) is an error: it gets gradients, but the optimizer never sees it. A gradient
  exactly zero everywhere is an error at once, unless some parameter is all zeros and gets a gradient
  itself (a zero-initialised layer blocks the first gradient on purpose, and lifts it by moving): then it is
  confirmed at the stage's end when the parameter moved less than `start.zero_update` (5%) x the
  others' median relative change.
  Only info when no weight matrix is among them (a norm's scale before attention over a single key
  gets exactly zero by design). Rows of a weight matrix (at least 2 and 10%) that are exactly zero and get
  exactly zero gradient while the rest of it trains never move: a warning (query and key rows zeroed
  together; confirmed at the end behind a zero-initialised weight; not embedding tables, whose padding row
  is so by design).
- `batch_dependence`: in eval mode, two examples alone vs inside a batch of `start.batch_examples` (8),
  at the output (Problem.forward, cropped to the shorter padded length, relative tolerance
  `start.batch_tolerance` 1e-3; error) and at the loss (warning): a batch loss must lie within its
  examples' losses (any weighted mean, e.g. per token) and stay when the batch is repeated twice, or
  be their sum and double. A loss normalised over the batch (by B**2, a softmax over the batch) fails.
- `batch_dependence` (error) too when the loss warns that it broadcast outputs against targets of another
  size ((B, 1) vs (B,): every prediction against every target), PyTorch's own warning, caught in the forward
  above.
- `labels_not_learnable`: every one of up to `start.label_examples` (512) targets is the same (needs at
  least `start.label_min_examples`, 10).
- `bad_init_loss` (warning, at the stage's end, only when the stage said nothing else): weights far above their
  layers' default init (initscale.py).
And at the end of a stage that met an accuracy-like goal (mode max) on at most `failure.small_data` examples:
- `loss_floor` (warning): the training loss stays above `start.floor_fraction` (0.5) x chance_loss (or x
  the loss at start) and `start.floor_min`, and does not fall in `start.floor_iterations` (200) more steps
  on a copy: a bug in the loss (a softmax before cross_entropy, a wrong target scale).
A check that cannot run records `check_skipped` (info) with the reason. Training is not disturbed: the
RNG state, buffers (BatchNorm statistics) and gradients are put back as they were.
"""
from __future__ import annotations

import copy
import math
import warnings
from contextlib import contextmanager
from typing import Any, Optional

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ..diagnosis import Diagnosis
from ..optim import make_optimizer
from ..trainer import optimisation_step, to_device
from .initscale import expanding_recurrence, oversized_diagnosis, oversized_weights
from .moments import swapped_betas
from .common import (batch_targets, compares_examples, num, run_model, same_losses, same_sequence, tensors_in,
                     zero_initialised, zero_weights)
from .config import StartConfig


def said_before(stage, d: Diagnosis) -> bool:
    """The same finding (code, severity and kind of evidence: at the output or at the loss) already recorded for
    this stage at iteration 0 (its numbers may differ in the last digits: another copy of the fresh weights)."""
    kind = (d.code, d.severity, sorted(d.evidence or {}))
    return any((x["code"], x["severity"], sorted(x.get("evidence") or {})) == kind and not x.get("iteration")
               for x in stage.diagnoses)


def no_gradient(reasons: dict, loss_requires_grad: bool) -> Diagnosis:
    """params_not_updating (error): parameters the forward uses that get no gradient (`reasons`: name -> why); all of
    them when the loss itself does not require grad (an output detached, or computed under no_grad)."""
    names = _names(list(reasons))
    return Diagnosis(
        "params_not_updating", "error",
        (f"the loss does not depend on any trainable parameter (the output is detached or computed without "
         f"gradients): {len(reasons)} tensor(s) get no gradient, e.g. {names}" if not loss_requires_grad else
         f"{len(reasons)} parameter tensor(s) are used by the forward but get no gradient: {names}"),
        evidence={"parameters": dict(list(reasons.items())[:50]), "loss_requires_grad": loss_requires_grad},
        fix="remove .detach() / .data / torch.no_grad() / .item() / numpy round trips on the path from these "
            "parameters to the loss")


def random_eval(difference) -> Diagnosis:
    """The same batch twice through the model in eval mode gives different outputs: something random is still on
    when the model is evaluated (F.dropout(x, p) defaults to training=True; noise added without checking
    self.training). Validation metrics are then noisy, and no example can be compared alone and in a batch."""
    return Diagnosis(
        "random_eval", "warning", "the model's output in eval mode is random: the same batch gives different outputs "
        f"twice in a row (relative difference {num(difference) if difference is not None else '?'}), so dropout or "
        "noise is still on when the model is evaluated and the validation metrics are noisy",
        evidence={"difference": num(difference) if difference is not None else None},
        fix="use nn.Dropout modules, or F.dropout(x, p, training=self.training), and add noise only when "
            "self.training, so that model.eval() turns them off")


# the fix of a check that could not read the batch: the task can say how its model runs and where its targets are
LAYOUT_FIX = "give the task's Problem `forward` and `targets` if the batch layout is unusual"


def skipped(check: str, why: str, fix: str = "nothing to change for this: the check has no verdict here, for the "
            "reason given (the other checks still ran)") -> Diagnosis:
    """`check_skipped` (info): a check that gave no verdict, and why. Most are stand-downs on evidence (a model the
    check would misjudge); the ones that could not read the batch layout pass LAYOUT_FIX."""
    return Diagnosis("check_skipped", "info", f"{check} could not run: {why}", evidence={"check": check, "why": why},
                     fix=fix)


BUILT_FACTOR = 10.0  # built_init_loss: the task's own build of a warm-started stage above this x chance (or x the
#                     loss of outputs at 0 for real-valued targets): a broken init the warm start hides


def built_init_loss(run) -> list:
    """`bad_init_loss` (warning) for a warm-started stage whose model, as the task builds it for this stage, starts at
    `BUILT_FACTOR` x chance or more: an init that grows with the stage (an output bias set to the stage's class counts,
    not their log frequencies: 1.3x chance on 10 examples, 90x on 3000; holdout43's churn) never shows on the fresh
    first stage, and the warm start replaces it on the others: training from scratch, or the user's own loop, meets
    it. One forward of a copy on the first 16 examples, in train mode without gradients."""
    from .common import fresh_copy, zero_output_loss
    problem = run.problem
    chance = problem.chance_loss
    if not chance or not math.isfinite(chance) or chance <= 0:
        return []
    batch = to_device(problem.get_batch(torch.arange(min(problem.train_size, 16))), run.settings.device)
    model = fresh_copy(run.model, run.initial_state)
    with torch.no_grad():
        first = float(problem.loss(model, batch))
    scale = max(chance, zero_output_loss(batch_targets(problem, batch)) or 0.0)
    if not (math.isfinite(first) and first > BUILT_FACTOR * scale):
        return []
    source = run.stage.warm_start_source()
    return [Diagnosis(
        "bad_init_loss", "warning", f"the model as the task builds it for this stage starts at a loss of {num(first)}, "
        f"{num(first / chance)}x the chance loss {num(chance)}: the warm start from {source} replaced those weights, "
        "so this ladder trains on, but the initialisation is broken for this stage's data (one that grows with the "
        "stage: a bias set from counts, a scale from the data's size); training it from scratch meets it",
        evidence={"init_loss": num(first), "chance_loss": num(chance), "factor": BUILT_FACTOR, "warm_start": source,
                  "built": True, "before_update": True},
        fix="initialise the output layer so that it starts near chance whatever the data's size (log class "
            "frequencies for a prior bias, not counts)")]


def recurrent_gain(run) -> list:
    from .initscale import saturated_gates
    found = expanding_recurrence(run.model) or saturated_gates(run.model, recurrent_inputs(run))
    return [found] if found is not None else []


def recurrent_inputs(run) -> dict:
    """What each recurrent layer reads on one training batch, (steps, features) (a PackedSequence's data): {} when
    the model has none."""
    named = {m: name for name, m in run.model.named_modules() if isinstance(m, nn.RNNBase)}
    if not named:
        return {}
    seen: dict = {}

    def keep(module, args):
        x = args[0] if args else None
        x = getattr(x, "data", x) if isinstance(x, nn.utils.rnn.PackedSequence) else x
        if isinstance(x, torch.Tensor) and x.is_floating_point() and named[module] not in seen:
            seen[named[module]] = x.detach().reshape(-1, x.shape[-1])
    handles = [m.register_forward_pre_hook(keep) for m in named]
    try:
        batch = to_device(run.problem.get_batch(torch.arange(min(run.problem.train_size, 32))), run.settings.device)
        with torch.no_grad():
            run_model(run.problem, run.model, batch)
    finally:
        for h in handles:
            h.remove()
    return seen


def unread_positions(run) -> list:
    from .positions import unread_positions as unread  # (positions.py builds on this module's batch helpers)
    return unread(run)


def is_fresh(run) -> bool:
    return run.iteration == 0 and run.stage.warm_start_source() is None


class StartChecks:
    """Monitor: the start checks on fresh stages, `loss_floor` and the confirmation of zero gradients at the end."""

    def __init__(self, c: StartConfig, small_data: int):
        self.c, self.small_data = c, small_data
        self.ran: set = set()            # the checks that ran at this stage's start (after_failure skips them)
        self.reported: set = set()       # parameters already named by params_not_updating
        self.suspects: dict = {}         # name -> value at start, for gradients exactly zero at the start
        self.zero: list = []
        self.rows: dict = {}             # name -> rows zero without gradient at the start, judged at the end
        self.start_loss: Optional[float] = None

    def on_start(self, run) -> None:
        self.ran, self.reported, self.suspects, self.rows, self.start_loss = set(), set(), {}, {}, None
        self.oversized = {}
        if not is_fresh(run):
            if run.iteration == 0 and run.initial_state is not None:  # a warm start: the task's own build, once
                try:
                    with preserved(run):
                        found = built_init_loss(run)
                except Exception:  # noqa: BLE001 - a build the check cannot run: the stage trains from its warm start
                    found = []
                for d in found:
                    run.diagnose(d)
            return
        self.oversized = oversized_weights(run.model, self.c.weight_factor)  # said at the end if nothing else was
        with preserved(run):
            for name, check in (("labels", lambda: constant_labels(self.c, run)),
                                ("gradients", lambda: self.gradient_flow(run)),
                                ("batch_dependence", lambda: batch_dependence(self.c, run)),
                                # a recurrent layer's gates at their rails ignore their inputs: said first, and then
                                # the tokens it does not read are its consequence, not a mask's (holdout55's keypad)
                                ("recurrent_gain", lambda: recurrent_gain(run)),
                                ("unread_positions", lambda: [] if self.railed(run) else unread_positions(run)),
                                ("optimizer", lambda: swapped_betas(run))):
                try:
                    found = check()
                except Exception as e:  # a check that cannot run says so; training goes on
                    found = [skipped(name, f"{type(e).__name__}: {e}", fix=LAYOUT_FIX)]
                self.ran.add(name)
                for d in found:
                    if said_before(run.stage, d):
                        continue  # found before the LR probe (diagnostics._said_first and
                        #           batch_dependence_first, init.check_init)
                    run.diagnose(d)

    @staticmethod
    def railed(run) -> bool:
        """A start check of this stage found a recurrent layer whose gates start at their rails."""
        return any(d["code"] == "saturated_units" and d["severity"] != "info" and
                   (d.get("evidence") or {}).get("saturated_gates") for d in run.stage.diagnoses)

    def on_end(self, run, outcome) -> None:
        # a stage that failed gets the test on its trained weights from the failure checks, in their order (a loss
        # that does not measure the task first: it also makes the loss depend on the batch's padding)
        trained = outcome.converged or run.deferred is None
        for d in (self.confirm_zero_gradients(run) + self.loss_floor(run, outcome)
                  + self.weights_too_large(run, outcome) + (batch_dependence_trained(self.c, run) if trained else [])
                  + (self.still_railed(run) if outcome.converged else [])):
            d.iteration = run.iteration
            run.diagnose(d)

    def still_railed(self, run) -> list:
        """recurrent_gain's finding at this stage's start, found again on the weights it trained to its goal: the
        stage learnt around a recurrent layer that still expands its state (or holds its gates at their rails), so
        every stage warm-started from it inherits the fault (holdout59's runs/lstm_weights_std_1: gain 22.8 at the
        start, the full stage's 300 s spent on it). Said with `outlasted_training`, which stops the ladder
        (policy._persisting_fault)."""
        at_start = [d for d in run.stage.diagnoses if d.get("iteration") == 0 and d["severity"] != "info"
                    and {"recurrent_gain", "saturated_gates"} & set(d.get("evidence") or {})]
        if "recurrent_gain" not in self.ran or not at_start:
            return []
        try:
            with preserved(run):
                found = recurrent_gain(run)
        except Exception:  # noqa: BLE001 - it ran at the start; a model it cannot run now keeps its start finding
            return []
        for d in found:
            d.message = (f"after {run.iteration} iterations that met the stage's goal, still: {d.message} (as at the "
                         "stage's start: training does not remove it, and every stage warm-started from these "
                         "weights inherits it)")
            d.evidence["outlasted_training"] = True
        return found

    def weights_too_large(self, run, outcome) -> list:
        """Weights far above their layers' default init (initscale.py), when the stage said nothing else: any warning
        or error of its own (saturation, vanishing gradients, a bad first loss) already points there, and first.
        On a stage that met its goal, the weights it trained are judged too: still far above it, the fault outlasted
        a training that reached the goal and every stage warm-started from them inherits it: said then whatever else
        was, with `outlasted_training`, which stops the ladder (holdout53's bells/qkv_normal_std1, std 0.99 for a
        default 0.072 before and after the first stage's 100 iterations, then 130 s of harder stages; holdout60's
        sortlm/linear_init_std_1, a first loss 6x chance said first, then 300 s of harder stages: 16 s now)."""
        if not self.oversized:
            return []
        still = {n: v for n, v in oversized_weights(run.model, self.c.weight_factor).items()
                 if n in self.oversized} if outcome.converged else {}
        if not still and any(d["severity"] in ("warning", "error") for d in run.stage.diagnoses):
            return []  # (outlasting the training, it is said whatever else was: it is why the ladder stops)
        d = oversized_diagnosis(self.oversized)
        if still:
            name, now = next(iter(still.items()))
            d.message += (f"; after the {run.iteration} iterations that met the stage's goal they still are ({name}: "
                          f"std {now['std']}), so every stage warm-started from them inherits it")
            d.evidence.update(outlasted_training=True, trained=still)
        return [d]

    # --- parameters that get no gradient ------------------------------------------------------------

    def gradient_flow(self, run) -> list:
        model, problem = run.model, run.problem
        named = list(model.named_parameters())
        total = sum(p.numel() for _, p in named) or 1
        found = []
        frozen = [n for n, p in named if not p.requires_grad]
        if frozen:
            share = sum(p.numel() for n, p in named if not p.requires_grad) / total
            part = share < self.c.frozen_share
            nothing = len(frozen) == len(named)  # nothing trains at all: never on purpose
            found.append(Diagnosis(
                "params_not_updating", "error" if nothing else "warning" if part else "info",
                f"{len(frozen)} parameter tensor(s) have requires_grad=False and will not train "
                f"({share:.0%} of the weights): {_names(frozen)}",
                evidence={"parameters": {n: "requires_grad is False (frozen)" for n in frozen[:50]},
                          "frozen_share": num(share)},
                fix="set requires_grad=True on them" + ("" if part else " (ignore if you fine-tune on purpose)")))
            if part or nothing:
                self.reported.update(frozen)
        trainable = [(n, p) for n, p in named if p.requires_grad]
        in_opt = {id(p) for g in run.optimizer.param_groups for p in g["params"]}
        outside = [n for n, p in trainable if id(p) not in in_opt]
        if outside:
            found.append(Diagnosis(
                "params_not_updating", "error", f"{len(outside)} trainable parameter tensor(s) are not in the "
                f"optimizer: {_names(outside)}",
                evidence={"parameters": {n: "not in the optimizer" for n in outside[:50]}},
                fix="pass model.parameters() (all of them) to the optimizer"))
            self.reported.update(outside)
        if not trainable:
            return found
        n = min(problem.train_size, self.c.examples)
        batch = to_device(problem.get_batch(torch.arange(n)), run.settings.device)
        model.train()
        model.zero_grad(set_to_none=True)
        ids, before = {id(p) for _, p in trainable}, parameter_ids(model)
        with UsedTensors(ids) as used, warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            loss = problem.loss(model, batch)
        found += broadcast_loss(said)  # (training's first step shows the same warnings on the console again)
        self.start_loss = float(loss.detach().float().mean())
        strays = unregistered_leaves(loss, model, batch, before)
        if strays and not said_before(run.stage, strays_diagnosis(strays)):  # the init check may have said it
            found.append(strays_diagnosis(strays))
        if loss.requires_grad:
            loss.backward()
        reasons, unused, zero, moving = {}, [], [], set()
        for name, p in trainable:
            if p.grad is None:
                if id(p) in used.seen:
                    reasons[name] = "used by the forward, but no gradient reaches it (detached?)"
                elif id(p) not in in_opt:
                    continue
                else:
                    unused.append(name)
            elif not _any_nonzero(p.grad):
                zero.append(name)
            else:
                moving.add(name)
        rows = dead_rows(model, trainable)
        copies = symmetric(trainable, self.c.symmetric_rows)
        model.zero_grad(set_to_none=True)
        if copies:
            found.append(symmetric_diagnosis(copies))
            self.reported.update(copies)
        if rows and zero_initialised(named) is None:
            found.append(_dead_rows(rows, "at the first step"))
            self.reported.update(rows)
        elif rows:  # a zero-initialised weight downstream may be what blocks them: judged at the stage's end
            self.rows = rows
        if reasons:
            d = no_gradient(reasons, loss.requires_grad)
            if not said_before(run.stage, d):  # the init check may have said it
                found.append(d)
            self.reported.update(reasons)
        if unused:
            found.append(Diagnosis(
                "params_not_updating", "info", f"{len(unused)} parameter tensor(s) are not used by this stage's "
                f"forward pass: {_names(unused)}", evidence={"parameters": {n: "not used" for n in unused[:50]}},
                fix="expected when a stage uses part of the model (e.g. no encoder); otherwise call the layer"))
        if zero:
            # a zero-initialised weight (ReZero, a zero last layer) blocks the very first gradient on
            # purpose; then wait for the end of the stage to see whether these parameters moved. It lifts the block
            # only by moving itself: when no zero-initialised weight gets a gradient (none at all, or a zeroed hidden
            # layer under a ReLU: zero output, and ReLU's slope at 0 is 0), nothing can ever lift it (holdout34's
            # topics/hidden_zero_init was named only after its stage failed)
            if not any(n in moving for n in zero_weights(trainable)):
                d = _zero_gradient(zero, "at the first step", _has_matrix(model, zero))
                found.append(d)
                if d.severity != "info":
                    self.reported.update(zero)
            else:
                self.zero = zero
                self.suspects = {n: p.detach().clone() for n, p in trainable}
        return found

    def confirm_zero_gradients(self, run) -> list:
        found = self.confirm_dead_rows(run)
        if not self.suspects:
            return found
        start, zero, self.suspects = self.suspects, self.zero, {}
        change = {}
        for n, p in run.model.named_parameters():
            if n in start:  # relative to the larger of the two norms: a zero-initialised tensor moves by 1
                a, b = start[n].float(), p.detach().float()
                scale = max(float(torch.linalg.vector_norm(a)), float(torch.linalg.vector_norm(b)), 1e-12)
                change[n] = float(torch.linalg.vector_norm(b - a)) / scale
        # the others' typical change, zero-initialised tensors left out: they always read 1 (a flow's couplings each
        # ending in a zero layer made the median 1, and first layers that moved 2-4% "stuck")
        moved = sorted(v for n, v in change.items() if n not in zero and _any_nonzero(start[n]))
        typical = moved[len(moved) // 2] if moved else 0.0
        # the zero-initialised weights that blocked them are no longer zero: the block is lifting, at the pace of the
        # optimiser (SGD at an LR meant for Adam creeps: a pre-norm residual MLP's zero fc2 at 0.003 moved its
        # branches by less than 5% of the others in 50 steps); only a parameter that did not move at all is stuck
        still = set(zero_weights(list(run.model.named_parameters())))
        lifted = any(n not in still for n in zero_weights(list(start.items())))
        stuck = [n for n in zero if change.get(n, 1.0) == 0.0
                 or (not lifted and change.get(n, 1.0) < self.c.zero_update * typical)]
        if not stuck:
            return found
        d = _zero_gradient(stuck, "at the start and they did not move during the stage", _has_matrix(run.model, stuck))
        if d.severity != "info":
            self.reported.update(stuck)
        return found + [d]

    def confirm_dead_rows(self, run) -> list:
        """The rows that were zero without gradient at the start (behind a zero-initialised weight) and still are."""
        rows, self.rows = self.rows, {}
        params = dict(run.model.named_parameters())
        still = {n: r for n, r in rows.items() if n in params and
                 not bool(params[n].detach().flatten(1)[torch.tensor(r, device=params[n].device)].any())}
        if not still:
            return []
        self.reported.update(still)
        return [_dead_rows(still, "at the start and are still zero at the stage's end")]

    # --- a loss that cannot reach zero --------------------------------------------------------------

    def loss_floor(self, run, outcome) -> list:
        problem = run.problem
        if not outcome.converged or problem.train_size > self.small_data:
            return []
        if run.stage.goal.mode != "max":  # a goal on the loss (or a loss-like metric) sets its own floor: a
            return []                     # VAE's negative ELBO never nears zero, and its goal says how low is low
        reference = problem.chance_loss or self.start_loss
        if not reference or not math.isfinite(reference):
            return [skipped("loss_floor", "the task gives no chance_loss and the stage did not start fresh")]
        limit = max(self.c.floor_fraction * reference, self.c.floor_min)
        with preserved(run):
            now = _full_loss(run, run.model)
            if not math.isfinite(now) or now <= limit:
                return []
            if compares_examples(problem, run.model, lambda i: to_device(problem.get_batch(i), run.settings.device)):
                return [skipped("loss_floor", "every example alone has the same loss: the loss compares examples "
                                              "within the batch (in-batch negatives), and its floor depends on it")]
            # the goal may have been met before the loss had time to fall: train a copy a little longer
            model = copy.deepcopy(run.model)
            model.train()
            opt = make_optimizer(model.parameters(), run.settings.optim, run.lr or run.base_lr)
            g = torch.Generator().manual_seed(0)
            n, bs = problem.train_size, min(run.settings.batch_size, problem.train_size)
            for _ in range(self.c.floor_iterations):
                idx = torch.randperm(n, generator=g)[:bs]
                optimisation_step(model, opt, problem, to_device(problem.get_batch(idx), run.settings.device),
                                  run.clip_norm)
            later = _full_loss(run, model)
        if not math.isfinite(later) or later <= limit or later < 0.8 * now:
            return []
        return [Diagnosis(
            "loss_floor", "warning",
            f"the goal is met on {problem.train_size} memorised examples, but the training loss stays at "
            f"{num(later)} (above {num(self.c.floor_fraction)} x the {'chance' if problem.chance_loss else 'start'} "
            f"loss {num(reference)}) even {self.c.floor_iterations} steps later: the loss has a floor",
            evidence={"train_loss": num(now), "train_loss_later": num(later), "reference": num(reference),
                      "limit": num(limit), "extra_iterations": self.c.floor_iterations},
            fix="check the loss: a softmax/sigmoid before a loss that applies its own (cross_entropy, "
                "BCEWithLogits), targets on the wrong scale, a constant term; or ignore it for label smoothing")]


# --- batch dependence ---------------------------------------------------------------------------------

def broadcast_loss(said: list) -> list:
    """PyTorch's own warning that a loss broadcast its input against a target of another size ((B, 1)
    predictions against (B,) targets: every prediction against every target, B x B pairs): each example's
    loss then depends on its batch-mates' targets, and no loss value at init shows it (predictions near 0)."""
    for w in said:
        text = str(w.message)
        if "target size" in text and "broadcast" in text:
            return [Diagnosis(
                "batch_dependence", "error", f"the loss broadcasts the outputs against targets of another shape, "
                f"so each prediction is compared with every example's target: {text}",
                evidence={"warning": text, "where": f"{w.filename}:{w.lineno}"},
                fix="give the outputs and the targets the same shape (out.squeeze(-1), or y.unsqueeze(-1)) before "
                    "the loss")]
    return []


def batch_dependence(c: StartConfig, run, finite_only: bool = False) -> list:
    """Findings of batch dependence at the output, then at the loss. `finite_only`: nothing when the batch's
    outputs hold NaN/inf (padding turned into 0/0 differs from any example alone: the op that made it is the root,
    which the init check traces)."""
    problem, model = run.problem, run.model
    n = min(problem.train_size, c.batch_examples)
    if n < 2:
        return [skipped("batch_dependence", "the stage has fewer than 2 training examples")]
    idx = torch.arange(n)
    dev = run.settings.device
    fetched = problem.get_batch(idx)
    deterministic, singles = fetches_agree(problem, idx, fetched)
    if deterministic:
        def get(i):
            return to_device(problem.get_batch(i), dev)
    elif batch_first(fetched, n):
        # random augmentation in get_batch (a flip, a crop): one fetched batch, and its examples taken out of
        # it, so that alone and inside the batch an example is the same example
        def get(i):
            return to_device(take(fetched, i), dev)
    else:
        return [skipped("batch_dependence", "get_batch returns different batches for the same indices, and its "
                                            "batch is not made of batch-first tensors to take examples from")]

    row = list(range(n))  # the row of the batch that holds each example
    if deterministic:  # (a random batch function's two fetches differ anyway)
        # the pairing is tested on the examples asked for in reverse order: a batch function that sorts one of its
        # lists by index (and not the others) pairs them right whenever the indices come sorted, as arange's do
        split = broken_pairs(problem, problem.get_batch(idx.flip(0)), n, asked=idx.flip(0), singles=singles)
        if split is not None:  # the data's fault: the model would be blamed for the outputs it then gives
            return [split]
        row = batch_rows(problem, fetched, n, singles)  # sorted by length for packing: example i is not row i
    model.eval()
    found, double = [], None
    with torch.no_grad():
        picks = range(n)  # each alone: padding bugs may touch one example of a batch only (the one whose lengths
        #                   disagree: a mask built from the target length, 1 of 10 examples)
        # at the output
        batch = to_device(fetched, dev)  # the whole batch, as fetched above
        out_b = run_model(problem, model, batch)
        if finite_only and isinstance(out_b, torch.Tensor) and out_b.is_floating_point() \
                and not bool(torch.isfinite(out_b).all()):
            return []
        if isinstance(out_b, torch.Tensor) and out_b.dim() >= 1 and out_b.shape[0] == n:
            again = run_model(problem, model, batch)
            if not _close(again, out_b, c.batch_tolerance):
                if made_in_forward(problem, model, batch):
                    return []  # weights drawn anew at each call: params_not_updating names them, the root
                return [random_eval(_rel(again, out_b) if isinstance(again, torch.Tensor) else None)]
            worst, where, alone, outs = 0.0, None, None, []
            for i in picks:
                few, out = _alone(problem, model, idx, i, get)
                outs.append(out[0])
                diff = _difference(out_b[row[i]], out[0])
                if diff > worst:
                    worst, where, alone = diff, i, few
            if worst > c.batch_tolerance and _constant(out_b, outs):
                # every example gets the same output, alone and in the batch: the model does not read its input
                # (dead units, a softmax over one channel), and what differs between the two is the rounding of
                # a constant that cancels to ~0, which a batch of another size sums in another order
                found.append(skipped("batch_dependence (output)", "every example gets the same output, alone and in "
                                     "the batch: the model does not read its input (see params_not_updating, "
                                     "dead_units)", fix="look at why the output does not depend on the input"))
            elif worst > c.batch_tolerance and (double := _agrees_in_double(problem, model, batch, idx, where,
                                                                             row[where], get, c.batch_tolerance)):
                found.append(skipped("batch_dependence (output)", f"an example's output alone and inside the batch "
                                     f"differ by {num(worst)} (relative) in float32 but agree in float64: rounding "
                                     "that the model amplifies (saturated or chaotic units), not examples mixing",
                                     fix="nothing to change for this; see saturated_units if it is said"))
                # the loss's own rounding is amplified alike: it is judged in float64 too
                model, batch, get = double, _in_double(batch), (lambda i, get=get: _in_double(get(i)))
            elif worst > c.batch_tolerance:
                first = _first_module(problem, model, batch, get(alone), row[where], c.batch_tolerance, len(alone))
                at = f"; outputs first part at {first[0]} ({first[1]})" if first else ""
                company = "alone" if len(alone) == 1 else "beside one other example (alone, a layer raised)"
                own = _own_padding(problem, model, batch, row[where], n, out_b, c.batch_tolerance)
                why, fix = (("its own row, padded as in the batch and repeated over it, gives the output it gets "
                             "in the batch: the padding the batch adds to it reaches its real positions (a mask on "
                             "the wrong axis or triangle, a softmax over the queries)",
                             "check the attention and padding masks: a real position must not read padded ones")
                            if own else ("examples mix across the batch",
                                         "check reshape/view/transpose that mix the batch dimension (view(-1, batch) "
                                         "instead of view(batch, -1)), and softmax/normalisation over dim 0"))
                found.append(Diagnosis(
                    "batch_dependence", "error",
                    f"in eval mode an example's output {company} differs from its output inside a batch of {n} by "
                    f"{num(worst)} (relative){at}: {why}",
                    evidence={"relative_difference": num(worst), "batch": n, "example": where,
                              "tolerance": c.batch_tolerance, "first_module": first[0] if first else None,
                              "first_type": first[1] if first else None, "own_padding": own},
                    fix=fix))
                return found
        else:
            found.append(skipped("batch_dependence (output)", "no batch-first tensor output (give Problem.forward)",
                                 fix=LAYOUT_FIX))
        # at the loss
        with _default_dtype(torch.float64 if double else None):
            whole = float(problem.loss(model, batch))
            if not math.isfinite(whole):  # NaN is never near itself: not "random"
                return found + [skipped("batch_dependence (loss)", "non-finite losses at init")]
            if not _near(float(problem.loss(model, batch)), whole, 1e-6):
                return found + [skipped("batch_dependence (loss)", "the eval-mode loss is random")]
            singles = [float(problem.loss(model, get(idx[i:i + 1]))) for i in range(n)]
            twice = float(problem.loss(model, get(torch.cat([idx, idx]))))
    if same_losses(singles) and not _near(whole, singles[0], 1e-6) and not _class_targets(problem, batch):
        # every example alone scores the same (InfoNCE without negatives: 0) and the batch holds no labels: the
        # loss's classes are the batch-mates themselves (contrastive). With labels, a softmax over the batch is a bug
        return found + [skipped("batch_dependence (loss)", f"every example alone has the same loss "
                                f"({num(singles[0])}) and the batch holds no class labels: the loss compares "
                                "examples within the batch (in-batch negatives) by design")]
    values = singles + [whole, twice]
    if not all(math.isfinite(v) for v in values):
        return found + [skipped("batch_dependence (loss)", "non-finite losses at init")]
    tol = max(c.batch_tolerance, 1e-4)
    scale = max(abs(whole), max(abs(v) for v in singles), 1e-8)
    margin = tol * scale
    within, summed = _mean_or_sum(whole, singles, margin, tol)
    mean_like = within and abs(twice - whole) <= margin
    sum_like = summed and abs(twice - 2 * whole) <= 2 * margin
    total = sum(singles)
    if mean_like or sum_like:
        return found
    kept = _padded_alone(problem, model, batch, get, idx, whole, margin, tol, double is not None)
    if kept is not None:
        found.append(Diagnosis(
            "batch_dependence", "warning",
            f"in eval mode an example's loss depends on the padding its batch adds: fetched alone, the examples' "
            f"losses ({num(min(singles))}..{num(max(singles))}) do not make the batch's loss ({num(whole)}), but taken "
            f"out of the batch with its padding kept ({num(min(kept))}..{num(max(kept))}) they do: the loss counts "
            "padded positions (a softmax or log_softmax over the time axis, a mean over every position, padding "
            "included), so the same example scores differently beside a longer one",
            evidence={"batch_loss": num(whole), "single_losses": [num(v) for v in singles],
                      "padded_single_losses": [num(v) for v in kept], "batch_twice_loss": num(twice),
                      "tolerance": tol, "padding": True},
            fix="normalise over the classes (the last axis: log_softmax(logits, -1)), and leave padded positions out "
                "of the loss (ignore_index, or a mask in the mean)"))
        return found
    found.append(Diagnosis(
        "batch_dependence", "warning",
        f"in eval mode the loss of a batch of {n} ({num(whole)}) is neither a mean nor the sum of its examples' "
        f"losses ({num(min(singles))}..{num(max(singles))}, sum {num(total)}), and the same batch twice gives "
        f"{num(twice)}: the loss is normalised over the batch, or pairs outputs with other examples' targets",
        evidence={"batch_loss": num(whole), "single_losses": [num(v) for v in singles], "batch_twice_loss": num(twice),
                  "tolerance": tol},
        fix="reduce the loss with a plain mean (or sum) over examples; check divisions by the batch size "
            "(squared?), softmax/normalisation over dim 0 in the loss, and that targets are flattened in the "
            "outputs' order ((batch, time) both, not one transposed)"))
    return found


def _padded_alone(problem, model, batch, get, idx: torch.Tensor, whole: float, margin: float, tol: float,
                  double: bool):
    """The losses of the examples taken out of the batch row by row, its padding kept, when what moves an example's
    loss is the padding the batch adds, not its batch-mates (holdout32's revlm: log_softmax over the positions of a
    left-padded batch): the batch pads some example (its row is wider than the example fetched alone), its loss
    stays the same with its rows in reverse order (no output is paired with another row's targets: targets
    flattened time-major against batch-major outputs change), and the rows alone make it a mean or a sum. None
    otherwise, or when the batch is not made of batch-first tensors to take rows from."""
    n = len(idx)
    if not batch_first(batch, n):
        return None
    try:
        with torch.no_grad(), _default_dtype(torch.float64 if double else None):
            rows = [take(batch, torch.tensor([i])) for i in range(n)]
            if all([t.shape for t in tensors_in(row)] == [t.shape for t in tensors_in(get(idx[i:i + 1]))]
                   for i, row in enumerate(rows)):
                return None  # no example was padded: the batch-mates themselves move the loss
            # beyond the rounding of a sum in another order: at init every pairing scores nearly alike (1e-3)
            if abs(float(problem.loss(model, take(batch, torch.arange(n).flip(0)))) - whole) > 1e-5 * abs(whole):
                return None  # the rows' order moves it: outputs meet other rows' targets
            kept = [float(problem.loss(model, row)) for row in rows]
    except Exception:  # noqa: BLE001 - a loss that cannot take rows of the batch: no second reading
        return None
    if not all(math.isfinite(v) for v in kept):
        return None
    return kept if any(_mean_or_sum(whole, kept, margin, tol)) else None


def _mean_or_sum(whole: float, losses: list, margin: float, tol: float) -> tuple[bool, bool]:
    """Whether a batch's loss lies within its examples' losses (any weighted mean of them does, e.g. per token), and
    whether it is their sum."""
    total = sum(losses)
    return min(losses) - margin <= whole <= max(losses) + margin, abs(whole - total) <= tol * max(abs(total), 1e-8)


def _class_targets(problem, batch) -> bool:
    t = batch_targets(problem, batch)
    return isinstance(t, torch.Tensor) and not t.is_floating_point() and t.dtype != torch.bool


def _agrees_in_double(problem, model, batch, idx: torch.Tensor, i: int, row: int, get, tolerance: float):
    """A float64 copy of the model when the example's outputs alone and inside the batch agree in float64 (the
    batches in double precision, tensors made in forward too), else None: the float32 difference was rounding (a
    batched matrix product sums in another order) that the model amplified past the tolerance, as an LSTM whose
    recurrent weights are all 0.5 does (holdout30's doubler: 0.0014 relative, from the decoder LSTM on). None too
    when the model cannot run in float64 (a cast to float32 inside it): the float32 verdict stands."""
    double = copy.deepcopy(model).double()
    try:
        with torch.no_grad(), _default_dtype(torch.float64):
            out_b = run_model(problem, double, _in_double(batch))
            _, out = _alone(problem, double, idx, i, lambda j: _in_double(get(j)))
    except Exception:  # noqa: BLE001 - a dtype mismatch inside the model: no second opinion
        return None
    if not (isinstance(out_b, torch.Tensor) and isinstance(out, torch.Tensor) and out_b.dtype == torch.float64):
        return None
    return double if _difference(out_b[row], out[0]) <= tolerance else None


@contextmanager
def _default_dtype(dtype):
    """torch's default float dtype set to `dtype` inside (None: left as it is)."""
    before = torch.get_default_dtype()
    if dtype is not None:
        torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def _in_double(batch: Any) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.double() if batch.is_floating_point() else batch
    if isinstance(batch, (list, tuple)):
        return same_sequence(batch, [_in_double(b) for b in batch])
    if isinstance(batch, dict):
        return {k: _in_double(v) for k, v in batch.items()}
    return batch


def _difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """Relative max difference of one example's outputs computed two ways; padded lengths may differ:
    compare the common part, aligned at the start (right padding) or at the end (left padding)."""
    if a.dim() != b.dim():
        return 0.0
    if a.shape == b.shape:
        return _rel(a, b)
    return min(_rel(x, y) for x, y in _overlaps(a, b))


def _overlaps(a: torch.Tensor, b: torch.Tensor) -> list:
    """The common part of two tensors padded to other lengths, as (a's, b's) pairs: aligned at the start (right
    padding) and at the end (left padding)."""
    common = [min(x, y) for x, y in zip(a.shape, b.shape)]
    head = tuple(slice(0, k) for k in common)
    tail_a = tuple(slice(x - k, x) for x, k in zip(a.shape, common))
    tail_b = tuple(slice(y - k, y) for y, k in zip(b.shape, common))
    return [(a[head], b[head]), (a[tail_a], b[tail_b])]


def _rel(a, b) -> float:
    a, b = a.float(), b.float()
    fa, fb = torch.isfinite(a), torch.isfinite(b)
    if bool((fa != fb).any()):
        return 2.0  # finite one way, NaN/inf the other (e.g. a std over a batch of one): the largest difference
    ok = fa & fb
    if not bool(ok.any()):
        return 0.0
    a, b = a[ok], b[ok]
    return float((a - b).abs().max() / (b.abs().max() + a.abs().max() + 1e-6) * 2)


def broken_pairs(problem, fetched: Any, n: int, asked: Optional[torch.Tensor] = None,
                 singles: Optional[list] = None) -> Optional[Diagnosis]:
    """`labels_not_learnable` when the batch function splits examples: each of two batch tensors holds whole
    examples (every row is exactly one example's, as fetched alone, and the rows are n different ones), but not the
    same ones row by row (one list sorted or shuffled on its own: holdout20's rle sorted its targets by length and not
    its sources). A batch reordered whole (sorted by length for packing) keeps every row one example; a tensor that
    is not one example's (lengths filled with the batch's width, a mask of the batch's shape) says nothing here."""
    if len(examples_in(fetched, n)) < 2:
        return None
    singles = singles if singles is not None else fetched_alone(problem, n)
    order = row_examples(problem, fetched, n, singles)
    keys = list(order)
    for a in keys:
        for b in keys:
            r = next((r for r in range(n) if order[a][r] != order[b][r]), None)
            if r is not None and str(a) < str(b):
                return _split(n, asked, r, (a, b), [order[a][r], order[b][r]],
                              f"{_place(a)} is example {order[a][r]}'s and its {_place(b)} example {order[b][r]}'s "
                              "(each compared with the examples fetched alone)")
    off = _off_anchor(fetched, n, singles, order)
    if off is not None:  # (class labels: many examples share each value, so no row names its example alone)
        anchor, key, r, j = off
        return _split(n, asked, r, (anchor, key), [j],
                      f"{_place(anchor)} is example {j}'s, but its {_place(key)} is not example {j}'s (that column "
                      "holds the batch's examples' values in another order; each compared with the examples fetched "
                      "alone)")
    return None


def _split(n: int, asked, r: int, keys: tuple, examples: list, detail: str) -> Diagnosis:
    """broken_pairs' finding: row `r` of a batch of the first `n` holds parts of different examples (`detail`)."""
    return Diagnosis(
        "labels_not_learnable", "error",
        f"the batch function splits examples: in a batch of the first {n}{_asked(asked)}, row {r}'s {detail}: one of "
        "them is sorted or shuffled on its own, so targets and inputs no longer belong together",
        evidence={"check": "pairs", "row": r, "keys": [str(k) for k in keys], "examples": examples, "batch": n},
        fix="reorder every tensor of a batch together (sort the examples, not one list)")


def _off_anchor(fetched: Any, n: int, singles: list, order: dict) -> Optional[tuple]:
    """(anchor key, key, row, example) where a batch tensor whose values repeat across examples (class labels)
    disagrees with a tensor that names each row's example (`order`): its rows are the n examples' own values, as a
    multiset, but row `row` does not hold `example`'s. None when they agree, or when no tensor names the rows, or the
    column is not the examples' values (a length filled with the batch's width says nothing)."""
    if not order:
        return None
    anchor = next(iter(order))
    for key, t in examples_in(fetched, n):
        if key in order or not all(key in one for one in singles):
            continue
        match = [{j for j, one in enumerate(singles) if _same_example(t[r], one[key][0])} for r in range(n)]
        free, whole = set(range(n)), True
        for r in range(n):  # the rows are the examples' own values: each row takes an example of its value
            pick = min(match[r] & free, default=None)
            if pick is None:
                whole = False
                break
            free.discard(pick)
        r = next((r for r in range(n) if order[anchor][r] not in match[r]), None) if whole else None
        if r is not None:
            return anchor, key, r, order[anchor][r]
    return None


def _asked(asked: Optional[torch.Tensor]) -> str:
    if asked is None or bool((asked[1:] > asked[:-1]).all()):
        return ""
    return f" (asked for as {asked.tolist()})"


def fetched_alone(problem, n: int) -> list:
    """Each of the first n examples fetched alone: {key: tensor} of its batch-first tensors."""
    return [dict(examples_in(problem.get_batch(torch.tensor([j])), 1)) for j in range(n)]


def row_examples(problem, fetched: Any, n: int, singles: Optional[list] = None) -> dict:
    """key -> the example (index among the first n, fetched alone) that each row of that batch tensor holds, for
    the tensors whose every row holds exactly one example and all different ones."""
    singles = singles if singles is not None else fetched_alone(problem, n)
    order = {}
    for key, t in examples_in(fetched, n):
        held = []
        for r in range(n):
            match = [j for j, one in enumerate(singles) if key in one and _same_example(t[r], one[key][0])]
            if len(match) != 1:
                break
            held.append(match[0])
        if len(held) == n and len(set(held)) == n:
            order[key] = held
    return order


def batch_rows(problem, fetched: Any, n: int, singles: Optional[list] = None) -> list:
    """The row of the fetched batch that holds each example (identity unless the batch function reorders its
    examples together, e.g. sorted by length for packing: then every tensor that holds whole examples agrees)."""
    orders = list(row_examples(problem, fetched, n, singles).values())
    if not orders or any(o != orders[0] for o in orders):
        return list(range(n))
    row = [0] * n
    for r, example in enumerate(orders[0]):
        row[example] = r
    return row


def _place(key) -> str:
    return f"batch item {key}" if isinstance(key, int) else f"batch[{key!r}]"


def examples_in(batch: Any, n: int) -> list:
    """(key, tensor) of each batch-first tensor of a batch (tuple items by position, dict entries by key)."""
    items = [(None, batch)] if isinstance(batch, torch.Tensor) else list(enumerate(batch)) \
        if isinstance(batch, (list, tuple)) else list(batch.items()) if isinstance(batch, dict) else []
    return [(k, v) for k, v in items if isinstance(v, torch.Tensor) and v.dim() >= 1 and v.shape[0] == n]


def _same_example(a: torch.Tensor, b: torch.Tensor) -> bool:
    """One example's tensor in a batch and alone: equal, or, padded to other lengths, equal where they overlap
    (aligned at the start or at the end)."""
    if a.dim() != b.dim() or a.dtype != b.dtype:
        return False
    if a.shape == b.shape:
        return bool(torch.equal(a, b))
    return any(bool(torch.equal(x, y)) for x, y in _overlaps(a, b))


def _constant(batch_out: torch.Tensor, alone: list) -> bool:
    """The batch's outputs are one row repeated, and the examples alone get one output too."""
    rows = batch_out.float()
    same = _rel(rows, rows[:1].expand_as(rows)) <= 1e-6
    return same and all(a.shape == alone[0].shape and _rel(a, alone[0]) <= 1e-6 for a in alone[1:])


def _close(a, b, tol) -> bool:
    return isinstance(a, torch.Tensor) and a.shape == b.shape and _rel(a, b) <= tol


def _near(a: float, b: float, tol: float) -> bool:
    return abs(a - b) <= tol * max(abs(a), abs(b), 1e-8)


FETCHES = 3  # fetches of the same batch that must agree (with each example fetched alone twice) to be deterministic


def fetches_agree(problem, idx: torch.Tensor, fetched: Any) -> tuple[bool, Optional[list]]:
    """(deterministic, the examples fetched alone): a batch function is deterministic when `FETCHES` fetches of the
    same examples (`fetched` the first) are alike, and so is each example fetched alone twice. A transform drawn per
    example shows in the batches; one drawn once per batch (a random quarter turn for the whole batch) agrees with
    itself by chance one time in four, but not over n examples fetched alone twice each: each single then gets a turn
    of its own, which would read as the model mixing the batch (holdout42's first pebbles: batch_dependence on every
    clean seed)."""
    if not all(same_batch(fetched, problem.get_batch(idx)) for _ in range(FETCHES - 1)):
        return False, None
    singles = fetched_alone(problem, len(idx))
    return same_batch(singles, fetched_alone(problem, len(idx))), singles


def same_batch(a: Any, b: Any) -> bool:
    """Two fetches of the same examples hold the same tensors (a deterministic batch function)."""
    if isinstance(a, torch.Tensor):
        if not (isinstance(b, torch.Tensor) and a.shape == b.shape):
            return False
        return bool(torch.equal(a, b)) or (a.is_floating_point() and bool(((a == b) | (a.isnan() & b.isnan())).all()))
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(same_batch(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same_batch(a[k], b[k]) for k in a)
    return True


def batch_first(batch: Any, n: int) -> bool:
    """Every tensor of the batch (a tensor, tuple, list or dict of them) has the n examples along dim 0."""
    if isinstance(batch, torch.Tensor):
        return batch.dim() >= 1 and batch.shape[0] == n
    if isinstance(batch, (list, tuple)):
        return len(batch) > 0 and all(batch_first(x, n) for x in batch)
    if isinstance(batch, dict):
        return len(batch) > 0 and all(batch_first(x, n) for x in batch.values())
    return False


def _own_padding(problem, model, batch, r: int, n: int, out_b: torch.Tensor, tol: float) -> bool:
    """Row r of the batch, repeated n times (no other example in the batch, its padding kept), gives its output in
    the batch: what differs from the example alone is its own padding, not its batch-mates."""
    if not batch_first(batch, n):
        return False
    try:
        copies = run_model(problem, model, take(batch, torch.full((n,), r, dtype=torch.long)))
    except Exception:  # noqa: BLE001 - a batch the model cannot run as copies: say what was said before
        return False
    return isinstance(copies, torch.Tensor) and _close(copies[:1], out_b[r:r + 1], tol)


def take(batch: Any, i: torch.Tensor) -> Any:
    """The examples `i` (positions, repeats allowed) of a batch-first batch."""
    if isinstance(batch, torch.Tensor):
        return batch[i]
    if isinstance(batch, (list, tuple)):
        return same_sequence(batch, [take(x, i) for x in batch])
    return {k: take(v, i) for k, v in batch.items()}


def _alone(problem, model, idx: torch.Tensor, i: int, get) -> tuple:
    """Example i run without its batch, (indices, outputs): alone, or with one partner first when the model
    cannot run a single example (a norm over the batch in eval mode, BatchNorm without running statistics,
    raises "Expected more than 1 value per channel"): its output beside any one other example must equal
    its output inside the batch."""
    one = idx[i:i + 1]
    try:
        return one, run_model(problem, model, get(one))
    except Exception:  # noqa: BLE001 - ValueError from batch norm; the pair raises again if it was not that
        pair = torch.stack([idx[i], idx[(i + len(idx) // 2) % len(idx)]])
        out = run_model(problem, model, get(pair))
        rows = batch_rows(problem, problem.get_batch(pair), 2)  # the pair sorted by length: example i may be second
        return pair, out[rows] if rows != [0, 1] and isinstance(out, torch.Tensor) else out


def _first_module(problem, model, batch, one, i: int, tol: float, size: int = 1) -> Optional[tuple]:
    """The first module (in call order) whose output for example i differs alone (first in `one`, a batch of
    `size`) vs in the batch."""
    def outputs(b) -> list:
        """(module name, type, output) of every module, in completion order, for one forward of `b`."""
        outs, handles = [], []
        for name, m in model.named_modules():
            def hook(mod, inp, out, name=name or "(root)"):
                t = out[0] if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor) else out
                if isinstance(t, torch.Tensor) and t.dim() >= 1:
                    outs.append((name, type(mod).__name__, t.detach()))
            handles.append(m.register_forward_hook(hook))
        try:
            run_model(problem, model, b)
        finally:
            for h in handles:
                h.remove()
        return outs

    outs_b, outs_1 = outputs(batch), outputs(one)
    single = {}
    for name, typ, o in outs_1:
        single.setdefault(name, o)
    seen = set()
    n = None
    for name, typ, o in outs_b:
        if name in seen:
            continue
        seen.add(name)
        o1 = single.get(name)
        if n is None:
            n = o.shape[0]
        if o1 is None or o.shape[0] != n or o1.shape[0] != size or o.dim() != o1.dim():
            continue
        if _difference(o[i], o1[0]) > tol:
            return name, typ
    return None


# --- labels -------------------------------------------------------------------------------------------

def constant_labels(c: StartConfig, run) -> list:
    problem = run.problem
    n = min(problem.train_size, c.label_examples)
    if n < c.label_min_examples:
        return []  # a few examples may share a class by chance
    t = batch_targets(problem, problem.get_batch(torch.arange(n)))
    if not isinstance(t, torch.Tensor) or t.dim() == 0 or t.shape[0] != n:
        return [skipped("labels_not_learnable (constant targets)", "no batch-first targets (give Problem.targets)",
                        fix=LAYOUT_FIX)]
    return constant_targets(t)


def constant_targets(t: torch.Tensor) -> list:
    rows = t.detach().reshape(t.shape[0], -1)
    if bool((rows == rows[:1]).all()):
        value = rows[0, 0].item() if rows.shape[1] == 1 else f"the same {tuple(t.shape[1:])} tensor"
        return [_nothing_to_learn(f"all {t.shape[0]} training targets looked at are {value}", int(t.shape[0]))]
    # class ids one per position, the positions the loss ignores marked below 0 (-100): the rows differ only where
    # the padding is, and every target the loss reads may still be one class (holdout39's tally: counts over the
    # whole batch, clipped to the top class)
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool or rows.shape[1] == 1:
        return []
    read = rows[rows >= 0]
    if read.numel() < t.shape[0] or not bool((read == read[0]).all()) or bool((rows >= 0).all()):
        return []
    return [_nothing_to_learn(f"every target the loss reads in the {t.shape[0]} training examples looked at "
                              f"({read.numel()} positions; the others are marked below 0, ignored) is "
                              f"{read[0].item()}", int(t.shape[0]))]


def _nothing_to_learn(what: str, examples: int) -> Diagnosis:
    return Diagnosis("labels_not_learnable", "error", f"{what}: there is nothing to learn",
                     evidence={"examples": examples, "unique_targets": 1},
                     fix="check the data pipeline's labels (a column index, a label read once, an overwrite)")


# --- helpers ------------------------------------------------------------------------------------------

class UsedTensors(TorchFunctionMode):
    """Records which of the given tensors (by id) any torch function receives: the parameters a forward uses,
    on any architecture (GRU/LSTM flat weights and attention projections included)."""

    def __init__(self, ids: set):
        super().__init__()
        self.ids, self.seen = ids, set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        self._visit(args)
        self._visit(kwargs)
        return func(*args, **kwargs)

    def _visit(self, a) -> None:
        if isinstance(a, torch.Tensor):
            if id(a) in self.ids:
                self.seen.add(id(a))
        elif isinstance(a, (list, tuple)):
            for b in a:
                self._visit(b)
        elif isinstance(a, dict):
            for b in a.values():
                self._visit(b)


def strays_diagnosis(strays: list) -> Diagnosis:
    return Diagnosis(
        "params_not_updating", "error",
        f"the forward uses {len(strays)} trainable tensor(s) that are not the model's parameters as the optimizer "
        f"holds them "
        f"({_names(strays, 3)}): they get gradients, but the optimizer never updates them",
        evidence={"tensors": strays[:20]},
        fix="register them: nn.ModuleList / nn.ModuleDict instead of a Python list or dict, nn.Parameter "
            "as an attribute, and no layers or parameters created inside forward")


def made_in_forward(problem, model: torch.nn.Module, batch: Any) -> list[str]:
    """The trainable tensors a forward creates that are not the model's (a layer built inside forward): drawn anew at
    every call, they also make two evaluations of one batch differ, and they, not dropout, are then the root."""
    try:
        before = parameter_ids(model)
        with torch.enable_grad():
            return unregistered_leaves(problem.loss(model, batch), model, batch, before)
    except Exception:  # noqa: BLE001 - a loss that cannot run here: the init check says so
        return []


def parameter_ids(model: torch.nn.Module) -> set:
    """The model's parameters as they are before a forward (one that rebuilds a layer replaces some)."""
    return {id(p) for p in model.parameters()}


def unregistered_leaves(loss: torch.Tensor, model: torch.nn.Module, batch: Any,
                        before: Optional[set] = None) -> list[str]:
    """Leaf tensors that need a gradient and reach the loss, but are neither the model's parameters (`before`: as
    they were before the forward) nor part of the batch (shape and dtype of each): a layer kept in a plain list, a
    parameter made in forward, a layer rebuilt by forward as an attribute (`self.fc = nn.Linear(...)`: registered,
    but never the optimizer's)."""
    if not loss.requires_grad or loss.grad_fn is None:
        return []
    known = (parameter_ids(model) if before is None else before) | {id(t) for t in tensors_in(batch)}
    seen, stack, strays = set(), [loss.grad_fn], []
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        leaf = getattr(node, "variable", None)  # AccumulateGrad: a leaf that will get a .grad
        if isinstance(leaf, torch.Tensor) and id(leaf) not in known:
            strays.append(leaf)
        stack.extend(next_node for next_node, _ in node.next_functions)
    hidden = _hidden_tensors(model) if strays else {}
    hidden.update({id(p): f"{n} (replaced by each forward)" for n, p in model.named_parameters()} if strays else {})
    return [hidden.get(id(t), f"a {'x'.join(map(str, t.shape)) or 'scalar'} tensor") for t in strays]


def _hidden_tensors(model: torch.nn.Module) -> dict:
    """id -> name of the tensors in layers that a module keeps in plain lists, tuples or dicts (where
    PyTorch does not look): `blocks[0].weight`."""
    names = {}
    for where, item in held_in_plain_containers(model):
        if isinstance(item, torch.nn.Module):
            names.update({id(p): f"{where}.{n}" for n, p in item.named_parameters()})
        elif isinstance(item, torch.Tensor):
            names[id(item)] = where
    return names


def held_in_plain_containers(model: torch.nn.Module):
    """(name, item) of what the model's modules keep in plain lists, tuples or dicts, where PyTorch (parameters(),
    eval(), state_dict()) does not look: `blocks[0]`."""
    for owner, module in model.named_modules():
        for attr, value in vars(module).items():
            if not isinstance(value, (list, tuple, dict)) or attr.startswith("_"):
                continue
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                yield (f"{owner + '.' if owner else ''}{attr}[{key!r}]" if isinstance(value, dict)
                       else f"{owner + '.' if owner else ''}{attr}[{key}]"), item


def batch_dependence_trained(c: StartConfig, run) -> list:
    """The batch-dependence test again on the weights the stage trained: a mixing that fresh weights damp to nothing
    shows once they moved (a squeeze-and-excitation pool over the batch: 5.6e-5 relative at init, every gate near
    0.5; 0.03 after the first stage's 50 steps, 0.25 after the whole ladder; a zero-initialised branch). Findings
    only (what could not run said so at the start), and not where it was said on this stage or one it started from."""
    said = any(d["code"] == "batch_dependence" and d["severity"] in ("warning", "error") for d in run.stage.diagnoses)
    if not c.batch_dependence_at_end or said or "batch_dependence" in run.inherited:
        return []
    try:
        with preserved(run):
            found = batch_dependence(c, run)
    except Exception:  # noqa: BLE001 - a model the test cannot run: the start check said why
        return []
    found = [d for d in found if d.code == "batch_dependence" and d.severity in ("warning", "error")]
    for d in found:
        d.message += f" (on the weights this stage trained, at iteration {run.iteration})"
        d.evidence["trained_iterations"] = run.iteration
    return found


@contextmanager
def preserved(run):
    """Run checks without disturbing training: RNG, buffers (BatchNorm statistics), mode and gradients
    (the checks' own gradients are dropped; the training's are put back)."""
    model = run.model
    rng = torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    buffers = {k: v.detach().clone() for k, v in model.named_buffers()}
    grads = [(p, p.grad) for p in model.parameters()]  # the training's own (the final histograms read them)
    was = model.training
    try:
        yield
    finally:
        for p, g in grads:
            p.grad = g
        with torch.no_grad():
            for k, v in model.named_buffers():
                if k in buffers:
                    v.copy_(buffers[k])
        model.train(was)
        torch.set_rng_state(rng)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


def _full_loss(run, model) -> float:
    problem = run.problem
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            idx = torch.arange(problem.train_size)
            return float(problem.loss(model, to_device(problem.get_batch(idx), run.settings.device)))
    finally:
        model.train(was)


def _has_matrix(model, names: list) -> bool:
    chosen = set(names)
    return any(p.dim() >= 2 for n, p in model.named_parameters() if n in chosen)


def dead_rows(model: nn.Module, trainable: list) -> dict:
    """Weight matrices' rows (output units) that are exactly zero and get exactly zero gradient (read after a
    backward): nothing can move them, while the rest of their tensor trains. Query and key rows of a fused projection
    zeroed together (q = k = 0: each blocks the other's gradient), a zero row before a ReLU at 0. At least 2 rows and
    10% of the tensor; whole tensors are the zero-gradient check's. Embedding tables are left out: a padding row is
    zero without gradient by design."""
    tables = {f"{m_name}.{n}" if m_name else n for m_name, m in model.named_modules()
              if isinstance(m, (nn.Embedding, nn.EmbeddingBag)) for n, _ in m.named_parameters(recurse=False)}
    found = {}
    for name, p in trainable:
        if p.dim() < 2 or p.grad is None or p.grad.is_sparse or p.is_sparse or name in tables:
            continue
        dead = (p.detach().flatten(1) == 0).all(1) & (p.grad.flatten(1) == 0).all(1)
        count = int(dead.sum())
        if 2 <= count < p.shape[0] and count >= 0.1 * p.shape[0]:
            found[name] = dead.nonzero().flatten().tolist()
    return found


def symmetric(trainable: list, min_rows: int) -> dict:
    """Weight tensors (read after a backward) whose rows (output units), at least `min_rows`, are all the same nonzero
    values and get the same gradient: every optimiser moves them alike, so they stay copies (a constant
    initialisation; the symmetry is never broken) and the layer works as one unit. The gradient rows are compared up
    to float rounding, 1e-5 of the model's largest gradient (behind a constant layer the gradient is exactly zero but
    for rounding: uniform logits give each hidden unit sum(p - y) x 0.05 = 0). Not zero-initialised tensors (often
    meant; the zero-gradient check judges them) and not when any row differs (a zero-initialised output layer gets a
    different gradient per output). Not a tensor of one value per unit (a hand-written normalisation's gain of shape
    (C, 1, 1), ones as usual) whose gradient is zero: each unit scales its own input, so equal values make copies
    only of equal inputs, and a zero gradient there comes from a dead layer before it (holdout29's strokes, a conv
    whose bias of -5 kept every ReLU at 0: the gain behind it was named instead of the dead layer)."""
    grads = [p.grad for _, p in trainable if p.grad is not None and not p.grad.is_sparse]
    scale = max((float(g.abs().max()) for g in grads if g.numel()), default=0.0)
    found = {}
    for name, p in trainable:
        if p.dim() < 2 or p.shape[0] < min_rows or p.grad is None or p.grad.is_sparse or p.is_sparse:
            continue
        w, g = p.detach().flatten(1).float(), p.grad.flatten(1).float()
        if w.shape[1] == 1 and float(g.abs().max()) <= 1e-5 * scale:
            continue
        if bool(w.any()) and bool((w == w[:1]).all()) and float((g - g[:1]).abs().max()) <= 1e-5 * scale:
            found[name] = int(p.shape[0])
    return found


def symmetric_diagnosis(copies: dict) -> Diagnosis:
    parts = {n: f"all {rows} rows are copies of one another with the same gradient" for n, rows in copies.items()}
    return Diagnosis("symmetric_units", "error",
                     f"the units of {len(copies)} weight tensor(s) start as exact copies and get the same "
                     f"gradient, so they stay copies whatever the training (a constant initialisation: the symmetry is "
                     f"never broken) and each layer works as a single unit: "
                     f"{'; '.join(f'{n} ({r} rows)' for n, r in list(copies.items())[:3])}",
                     evidence={"parameters": dict(list(parts.items())[:50])},
                     fix="initialise weights randomly (the layer's default init, nn.init.kaiming_uniform_ / "
                         "xavier_uniform_), not with a constant (nn.init.constant_, fill_, ones)")


def _dead_rows(rows: dict, when: str) -> Diagnosis:
    parts = {n: f"{len(r)} of its rows ({_spans(r)}) are zero and get exactly zero gradient" for n, r in rows.items()}
    return Diagnosis("params_not_updating", "warning",
                     f"rows of {len(rows)} weight tensor(s) are exactly zero and got a gradient exactly zero {when}, "
                     f"so they never move: {'; '.join(f'{n}: {v}' for n, v in list(parts.items())[:3])}",
                     evidence={"parameters": dict(list(parts.items())[:50])},
                     fix="check the init: zeroing query and key rows together (q = k = 0) blocks both gradients, and a "
                         "zero row before a ReLU stays at 0; zero-initialise an output projection instead")


def _spans(rows: list) -> str:
    """[0, 1, 2, 5] -> '0-2, 5'."""
    spans, start = [], rows[0]
    for a, b in zip(rows, rows[1:] + [None]):
        if b != a + 1:
            spans.append(f"{start}-{a}" if a != start else f"{a}")
            start = b
    return ", ".join(spans[:4]) + (" ..." if len(spans) > 4 else "")


def _zero_gradient(names: list, when: str, matrix: bool) -> Diagnosis:
    # a weight matrix that gets no signal is a dead layer; norm scales and biases alone can get exactly zero
    # by design (a LayerNorm before attention over a single key, whose softmax is constant)
    return Diagnosis("params_not_updating", "error" if matrix else "info",
                     f"{len(names)} parameter tensor(s) got a gradient exactly zero {when}: {_names(names)}",
                     evidence={"parameters": {n: "its gradient is exactly zero" for n in names[:50]}},
                     fix="check for a multiplication by a zero constant, dead ReLUs before them (init/bias), "
                         "or a mask that blocks every path to the loss")


def _any_nonzero(t: torch.Tensor) -> bool:
    if t.is_sparse:
        t = t.coalesce().values()
    return bool(t.any())


def _names(names: list, k: int = 5) -> str:
    return ", ".join(names[:k]) + (f" and {len(names) - k} more" if len(names) > k else "")
