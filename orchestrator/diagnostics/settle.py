"""A stage whose steps are too large to settle (code `lr_too_high`, warning): a failure check, any size.

An LR set for another batch size or optimiser (a recipe's LR at batch size 2, Adam at 0.03) stays finite, brings the
loss down at first and then keeps the weights bouncing around the minimum: the goal metric stalls below its goal,
however long the stage trains. The LR probe sees no NaN, and fresh weights trained briefly fit as well at a tenth of
the LR (the bouncing only shows near the end). The stage's own weights tell: continued from where the stage ended
(its optimiser state too) on its own training batches, for `failure.settle_iterations` (200) steps at a tenth of its
LR and, as a control, at the LR itself, the same batches each, then its goal metric measured as the stage measured it.

Fires when nothing else was said about the stage, it did not meet its goal, the control stays where the stage got to
(the LR itself has nothing left to gain there), and a tenth of the LR goes past the best the stage ever reached by
at least `failure.settle_gain` (25%) of the way from that best to the goal (holdout59's runs/adam_lr_0.03: validation
exact stuck at 0.85, goal 0.97; holdout57's sorter/batch_size_2, a recipe's LR at batch size 2). The policy then
retries the stage at that tenth (policy._retry_measured), as for a loss that climbed.

Which remedy: the LR itself is also continued on batches `failure.settle_batch_scale` (8) x larger (at most the
training set, and at most `failure.settle_batch_max` (32): below that size a step costs about as much as a step on
batches of two, above it a larger batch multiplies each step's cost and a lower LR is the cheaper fix). Steps of the
same size with less noise in their direction: when those pass the best by the same margin, and get at least as far
as the tenth, the steps were too noisy rather than too large for the loss's curvature (which a larger batch leaves
as it is), and the diagnosis says the batch is too small (evidence `batch_noise`, `larger_batch`). The policy then
retries the stage on the larger batches at the same LR, and so do the stages after it: at a tenth of the LR,
batches of two crawled (holdout57's sorter timed out after 600 s, `lr_too_low` at every later stage).
"""
from __future__ import annotations

import copy
import math
from typing import Optional

import torch

from ..diagnosis import Diagnosis
from ..optim import make_optimizer
from ..data import batches_for
from ..trainer import optimisation_step, to_device
from .common import num


def steps_too_large(ctx) -> Optional[Diagnosis]:
    run, c = ctx.run, ctx.cfg
    goal = run.stage.goal
    if ctx.said_anything() or ctx.lr_suspect or run.best is None or not math.isfinite(run.best):
        return None
    if goal.met(run.best) or run.optimizer is None or not run.lr > 0:
        return None
    start = _metric(run, run.model)
    if start is None:
        return None
    at_lr = _continued(run, 1.0, c.settle_iterations)
    gap = abs(goal.target - run.best)
    # the control first (the tenth's steps are spent only when it holds): the LR itself gains nothing more from
    # where the stage ended (a stage still on its way up is under-budgeted, not at a floor of its steps' size)
    if at_lr is None or goal.better(at_lr, _ahead(goal, run.best, start), c.settle_gain * gap):
        return None
    at_tenth = _continued(run, 0.1, c.settle_iterations)
    if at_tenth is None:
        return None
    # the same LR on larger batches: steps of the same size, less noise in their direction. Noise is what a
    # larger batch removes and a smaller LR only averages out; steps too large for the loss's curvature stay so
    batch = run.sampler.batch_size if run.sampler is not None else run.settings.batch_size
    # (up to a size that costs little more per step: above it a lower LR is the cheaper fix, holdout59's
    # runs/adam_lr_0.03 at batch 32 settled as well at 256 as at a tenth, at 8x the cost of each step)
    larger = min(batch * c.settle_batch_scale, c.settle_batch_max, run.problem.train_size or 0)
    at_batch = _continued(run, 1.0, c.settle_iterations, larger) if larger >= 2 * batch else None
    passed = _ahead(goal, run.best, at_lr)
    tenth_settles = goal.better(at_tenth, passed, c.settle_gain * gap)
    noisy = at_batch is not None and goal.better(at_batch, passed, c.settle_gain * gap) and (
        not tenth_settles or not goal.better(at_tenth, at_batch))
    if not (tenth_settles or noisy):
        return None
    lr = run.lr
    evidence = {"metric": goal.metric, "at_end": num(start), "at_lr": num(at_lr), "at_tenth": num(at_tenth),
                "best": num(run.best), "goal": goal.target, "lr": num(lr), "batch_size": batch, "settles_lower": True}
    said = (f"continued from where the stage ended for {c.settle_iterations} iterations on its own batches, a tenth "
            f"of its LR takes {goal.metric} from {num(start)} to {num(at_tenth)} (the stage's best {num(run.best)}, "
            f"its goal {num(goal.target)}), while the LR itself stays at {num(at_lr)}")
    if noisy:
        evidence.update(at_batch=num(at_batch), larger_batch=larger, batch_noise=True)
        return Diagnosis(
            "lr_too_high", "warning", f"{said}; batches of {larger} at the LR itself take it to {num(at_batch)}: "
            f"steps this large are too noisy on batches of {batch} to settle (a batch size too small for the LR)",
            evidence=evidence, fix=f"raise the batch size (optim.batch_size={larger}), or lower the LR to "
            f"{num(lr / 10)}-{num(lr / 3)} and train longer")
    return Diagnosis(
        "lr_too_high", "warning", f"{said}: the steps are too large to settle into the minimum they found (an LR set "
        "for a larger batch or another optimiser)", evidence=evidence,
        fix=f"lower the LR (to {num(lr / 10)}-{num(lr / 3)}), decay it once the metric stalls (optim.decay), or raise "
            "the batch size")


def _ahead(goal, a: float, b: float) -> float:
    """The better of two values of the goal's metric."""
    return b if goal.better(b, a) else a


def _continued(run, factor: float, iterations: int, batch_size: Optional[int] = None) -> Optional[float]:
    """The goal metric after `iterations` more steps at `factor` x the stage's LR, from its final weights and optimiser
    state, on batches drawn as the stage drew them (the same for every factor; of `batch_size` when given); None
    when it cannot be measured."""
    model = copy.deepcopy(run.model)
    opt = make_optimizer(model.parameters(), run.settings.optim, run.lr)
    try:
        opt.load_state_dict(run.optimizer.state_dict())
    except (ValueError, KeyError):
        return None  # parameter groups of its own: not the stage's optimiser to continue
    for group in opt.param_groups:
        group["lr"] = run.lr * factor
    # a Dataset's batches too
    batches = batches_for(run.problem, batch_size or run.settings.batch_size, seed=run.settings.seed + 1)
    model.train()
    rng = torch.get_rng_state()
    try:
        for _ in range(iterations):
            batch = to_device(batches.next_batch(run.problem), run.settings.device)
            loss = optimisation_step(model, opt, run.problem, batch, run.clip_norm)
            if not bool(torch.isfinite(loss).all()):
                return None
    finally:
        torch.set_rng_state(rng)
        getattr(batches, "close", lambda: None)()  # a DataLoader's workers
    return _metric(run, model)


def _metric(run, model) -> Optional[float]:
    model.eval()
    try:
        with torch.no_grad():
            value = dict(run.problem.evaluate(model)).get(run.stage.goal.metric)
    finally:
        model.train()
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None
