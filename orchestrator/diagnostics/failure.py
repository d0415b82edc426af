"""A network that does not learn: checks that separate a bug from a hard problem.

They run after a stage failed (`after_failure`) when it trained on at most `failure.small_data` (100)
examples: a network that cannot fit 100 examples usually has a bug. Each check is a function
`check(ctx) -> Diagnosis | None` in CHECKS; all that fire are reported.

- `bad_init_loss`: loss at init (fresh-weight stages only, measured at stage start) differs from
  problem.chance_loss by more than `failure.init_loss_tolerance` (50%) of it (Karpathy 2019, "verify loss @ init").
- `params_not_updating`: parameters that did not change during the stage, each with its reason
  (requires_grad off, not in the optimizer, no gradient reaches it, gradient exactly zero).
- `batch_dependence`: in eval mode an example's output alone differs from its output inside a batch, or
  the gradient of one example's output reaches another example's input; names the first module where the
  outputs part (needs inputs as the first tensor of a batch or extras['x_train']; otherwise compares the
  batch loss with the mean of per-example losses).
- `labels_not_learnable`: constant targets, or fresh weights fit the real labels no better than randomly
  permuted ones in `failure.label_iterations` (200) steps (mean training loss > `failure.label_ratio` (0.9) x shuffled).
- `overfit_batch_size_1`: fresh weights trained on one example for `failure.overfit_iterations` (300);
  error when the loss does not fall below `failure.overfit_fraction` (5%) of its start, info when it does.
- `lr_too_low`: median per-layer update/weight ratio (HealthMonitor) below `failure.update_ratio`
  (1e-5; ~1e-3 is healthy, cs231n).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Optional

import torch

from ..diagnosis import Diagnosis
from ..optim import make_optimizer
from ..trainer import optimisation_step, to_device
from .common import first_tensor, fresh_copy, model_device, num, targets_of
from .config import FailureConfig


class StartRecord:
    """Monitor: the weights and the loss as the stage starts (for params_not_updating, bad_init_loss)."""

    def __init__(self, c: FailureConfig):
        self.c = c
        self.weights: dict = {}
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
        fresh = run.stage.warm_start_source() is None and run.iteration == 0
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
    lr_suspect: bool = False  # lr_too_low fired: checks that retrain at this LR prove nothing about bugs

    @property
    def problem(self):
        return self.run.problem


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
    return Diagnosis("bad_init_loss", "warning",
                     f"the loss at init is {num(init)}, {'above' if init > chance else 'below'} the chance "
                     f"loss {num(chance)} by {off:.0%}", evidence={"init_loss": num(init), "chance_loss": num(chance),
                                                                 "tolerance": ctx.cfg.init_loss_tolerance},
                     fix="check optim.init_scale and the last layer's init (logits near 0 at init), and the loss")


def params_not_updating(ctx: Context) -> Optional[Diagnosis]:
    if ctx.start is None or not ctx.start.weights:
        return None
    run, model = ctx.run, ctx.run.model
    in_opt = {id(p) for g in run.optimizer.param_groups for p in g["params"]}
    stuck = [(n, p) for n, p in model.named_parameters()
             if n in ctx.start.weights and torch.equal(p.detach(), ctx.start.weights[n])]
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
            reasons[n] = "its gradient is exactly zero"
        else:
            reasons[n] = "unchanged although it has a gradient (LR 0?)"
    names = list(reasons)
    return Diagnosis("params_not_updating", "error",
                     f"{len(names)} parameter tensor(s) did not change in {ctx.outcome.iterations} iterations: "
                     + ", ".join(f"{n} ({reasons[n]})" for n in names[:5]) + (" ..." if len(names) > 5 else ""),
                     evidence={"parameters": reasons,
                               "total": sum(1 for _ in model.parameters())},
                     fix="set requires_grad=True / pass every parameter to the optimizer / make sure the "
                         "parameter is used in the loss without .detach()")


def batch_dependence(ctx: Context) -> Optional[Diagnosis]:
    problem, model = ctx.problem, ctx.run.model
    n = min(problem.train_size, 8)
    if n < 2:
        return None
    idx = torch.arange(n)
    x = problem.extras.get("x_train")
    if not isinstance(x, torch.Tensor):
        batch = problem.get_batch(idx)
        if isinstance(batch, dict):  # the model's call signature is the task's own: nothing safe to call
            return None
        x = first_tensor(batch)
    else:
        x = x[:n]
    was = model.training
    model.eval()
    try:
        if isinstance(x, torch.Tensor) and x.shape[0] == n:
            return _batch_dependence_outputs(ctx, model, x.to(model_device(model)))
        return _batch_dependence_loss(ctx, model, idx)
    except Exception:
        return None
    finally:
        model.train(was)
        model.zero_grad(set_to_none=True)


def _capture(model):
    outs, handles = [], []
    for name, m in model.named_modules():
        def hook(mod, inp, out, name=name or "(root)"):
            if isinstance(out, torch.Tensor):
                outs.append((name, type(mod).__name__, out.detach()))
        handles.append(m.register_forward_hook(hook))
    return outs, handles


def _batch_dependence_outputs(ctx: Context, model, x) -> Optional[Diagnosis]:
    tol = ctx.cfg.batch_tolerance
    outs_b, handles = _capture(model)
    with torch.no_grad():
        y_batch = model(x)
    for h in handles:
        h.remove()
    outs_1, handles = _capture(model)
    with torch.no_grad():
        y_one = model(x[1:2])
    for h in handles:
        h.remove()
    if not isinstance(y_batch, torch.Tensor):
        return None
    diff = float((y_batch[1:2] - y_one).abs().max() / (y_one.abs().max() + 1e-12))
    # gradient of example 0's output with respect to the other examples' inputs
    leak = 0.0
    if x.is_floating_point():
        xg = x.clone().requires_grad_(True)
        out = model(xg)
        g, = torch.autograd.grad(out[0].sum(), xg, allow_unused=True)
        if g is not None:
            own = g[0].abs().max()
            leak = float(g[1:].abs().max() / (own + 1e-12)) if own > 0 else float(g[1:].abs().max())
    if diff <= tol and leak <= tol:
        return None
    first = None
    one = {name: o for name, _, o in outs_1}
    for name, typ, o in outs_b:
        o1 = one.get(name)
        if o1 is None or o.dim() == 0 or o.shape[0] != x.shape[0] or o1.shape[1:] != o.shape[1:]:
            continue
        if float((o[1:2] - o1).abs().max() / (o1.abs().max() + 1e-12)) > tol:
            first = (name, typ)
            break
    where = f"; outputs first part at {first[0]} ({first[1]})" if first else ""
    return Diagnosis("batch_dependence", "error",
                     f"example outputs depend on the other examples in the batch (eval mode): alone vs in a batch "
                     f"differ by {num(diff)} (relative), gradient leak to other inputs {num(leak)}{where}",
                     evidence={"relative_difference": num(diff), "gradient_leak": num(leak), "batch": int(x.shape[0]),
                               "first_module": first[0] if first else None, "first_type": first[1] if first else None},
                     fix="check reshape/view/transpose that mix the batch dimension (view(-1, batch) instead of "
                         "view(batch, -1)), and normalisation over the batch")


def _batch_dependence_loss(ctx: Context, model, idx) -> Optional[Diagnosis]:
    run, problem = ctx.run, ctx.problem
    with torch.no_grad():
        whole = float(problem.loss(model, _to(run, problem.get_batch(idx))))
        singles = [float(problem.loss(model, _to(run, problem.get_batch(idx[i:i + 1])))) for i in range(len(idx))]
    mean, total = sum(singles) / len(singles), sum(singles)
    diff = min(abs(whole - mean) / (abs(mean) + 1e-12), abs(whole - total) / (abs(total) + 1e-12))
    if diff <= max(ctx.cfg.batch_tolerance, 1e-3):
        return None
    return Diagnosis("batch_dependence", "warning",
                     f"in eval mode the loss of a batch ({num(whole)}) is not the mean of its examples' losses "
                     f"({num(mean)}): examples may leak across the batch", evidence={"batch_loss": num(whole),
                     "mean_single_loss": num(mean), "relative_difference": num(diff)},
                     fix="check reshapes that mix the batch dimension "
                         "(or ignore this if the loss weights examples unequally)")


def _train(ctx: Context, model, batch_fn, iterations: int, pool: int) -> list:
    """Train `model` on random batches from the first `pool` training examples; the losses."""
    run = ctx.run
    model.train()
    opt = make_optimizer(model.parameters(), run.settings.optim, run.base_lr)
    losses = []
    bs = min(run.settings.batch_size, pool)
    g = torch.Generator().manual_seed(0)
    for i in range(iterations):
        idx = torch.randperm(pool, generator=g)[:bs]
        losses.append(optimisation_step(model, opt, ctx.problem, batch_fn(idx), run.clip_norm))
    return [float(v) for v in torch.stack(losses).tolist()] if losses else []


def labels_not_learnable(ctx: Context) -> Optional[Diagnosis]:
    run, problem = ctx.run, ctx.problem
    n = problem.train_size
    every = _to(run, problem.get_batch(torch.arange(n)))
    y = problem.extras.get("y_train")
    y = y if isinstance(y, torch.Tensor) else targets_of(every)
    if isinstance(y, torch.Tensor) and y.numel() > 1 and bool((y == y.reshape(-1)[0]).all()):
        return Diagnosis("labels_not_learnable", "error", f"every target in the {n} training examples is "
                         f"{y.reshape(-1)[0].item()}: nothing to learn", evidence={"unique_targets": 1},
                         fix="check the data pipeline's labels")
    if targets_of(every) is None or not isinstance(every, (list, tuple)) or n < 4:
        return None
    pool = min(n, ctx.cfg.label_examples)  # a few hundred examples tell labels from noise
    perm = torch.randperm(pool, generator=torch.Generator().manual_seed(1))

    def real(idx):
        return _to(run, problem.get_batch(idx))

    def shuffled(idx):
        b, t = problem.get_batch(idx), problem.get_batch(perm[idx])
        return _to(run, type(b)([*b[:-1], t[-1]]))

    a = fresh_copy(run.model)
    b = copy.deepcopy(a)
    real_losses = _train(ctx, a, real, ctx.cfg.label_iterations, pool)
    shuf_losses = _train(ctx, b, shuffled, ctx.cfg.label_iterations, pool)
    # the speed of fitting decides: the mean training loss over the run (area under the curve)
    fr, fs = sum(real_losses) / len(real_losses), sum(shuf_losses) / len(shuf_losses)
    if not (math.isfinite(fr) and math.isfinite(fs)) or fr <= ctx.cfg.label_ratio * fs:
        return None
    if ctx.lr_suspect or min(real_losses[-10:]) > 0.95 * real_losses[0]:
        return None  # the real labels were not fitted at all either: this LR cannot tell labels apart
    return Diagnosis("labels_not_learnable", "error",
                     f"fresh weights fit the real labels no faster than shuffled ones over {ctx.cfg.label_iterations} "
                     f"iterations (mean loss {num(fr)} vs {num(fs)}): the labels do not follow from the inputs",
                     evidence={"real_mean_loss": num(fr), "shuffled_mean_loss": num(fs),
                               "ratio": num(fr / max(fs, 1e-12)),
                               "iterations": ctx.cfg.label_iterations, "real_final": num(real_losses[-1]),
                               "shuffled_final": num(shuf_losses[-1])},
                     fix="check that inputs and labels stay aligned (shuffling, sorting, augmentations, indexing)")


def overfit_batch_size_1(ctx: Context) -> Optional[Diagnosis]:
    run, problem = ctx.run, ctx.problem
    model = fresh_copy(run.model)
    one = _to(run, problem.get_batch(torch.tensor([0])))
    model.train()
    opt = make_optimizer(model.parameters(), run.settings.optim, run.base_lr)
    losses = []
    for i in range(ctx.cfg.overfit_iterations):
        losses.append(optimisation_step(model, opt, problem, one))
    values = torch.stack(losses).tolist()
    start, end = values[0], min(values[-10:])
    fits = math.isfinite(end) and end <= ctx.cfg.overfit_fraction * start
    evidence = {"start_loss": num(start), "final_loss": num(end), "iterations": ctx.cfg.overfit_iterations,
                "lr": num(run.base_lr), "fits": fits}
    if fits:
        return Diagnosis("overfit_batch_size_1", "info",
                         f"fresh weights fit one example (loss {num(start)} -> {num(end)}): the model can learn; "
                         f"the failure is more likely data, capacity or optimisation", evidence=evidence,
                         fix="look at the other diagnoses; try more iterations, a different LR or a larger model")
    if ctx.lr_suspect:
        return Diagnosis("overfit_batch_size_1", "warning",
                         f"fresh weights cannot fit even one example in {ctx.cfg.overfit_iterations} iterations "
                         f"(loss {num(start)} -> {num(end)}) at LR {num(run.base_lr)}, which looks too low "
                         f"(see lr_too_low)", evidence=evidence, fix="raise the LR first, then look again")
    return Diagnosis("overfit_batch_size_1", "error",
                     f"fresh weights cannot fit even one example in {ctx.cfg.overfit_iterations} iterations "
                     f"(loss {num(start)} -> {num(end)}): likely a bug in the model, loss or data",
                     evidence=evidence, fix="check the loss (targets, reduction), frozen layers and the LR")


def lr_too_low(ctx: Context) -> Optional[Diagnosis]:
    h = ctx.health
    if h is None or not h.update_ratios:
        return None
    per_layer = {}
    for _, ratios in h.update_ratios:
        for n, r in ratios.items():
            per_layer.setdefault(n, []).append(r)
    med = {n: sorted(v)[len(v) // 2] for n, v in per_layer.items() if v}
    finite = [v for v in med.values() if math.isfinite(v)]
    if not finite:
        return None
    overall = sorted(finite)[len(finite) // 2]
    if overall >= ctx.cfg.update_ratio or overall == 0.0:
        return None
    return Diagnosis("lr_too_low", "warning",
                     f"the weights barely move: median update/weight ratio {num(overall)} per step (healthy ~1e-3)",
                     evidence={"update_ratio": {n: num(v) for n, v in med.items()}, "median": num(overall),
                               "threshold": ctx.cfg.update_ratio, "lr": num(ctx.run.base_lr)},
                     fix=f"raise the LR (e.g. x{num(min(1e3, 1e-3 / max(overall, 1e-12)))}) or run the LR probe")


# lr_too_low first: when it fires, the checks that retrain at the same LR are read in its light
CHECKS = [lr_too_low, bad_init_loss, params_not_updating, batch_dependence, labels_not_learnable,
          overfit_batch_size_1]


# a big stage that fails is usually just hard; these two still tell a bug (or a bad LR) from that
ANY_SIZE = [lr_too_low, labels_not_learnable]


def run_checks(c: FailureConfig, run, outcome) -> list[Diagnosis]:
    checks = CHECKS if run.problem.train_size <= c.small_data else ANY_SIZE
    start = next((m for m in run.monitors if isinstance(m, StartRecord)), None)
    from .health import HealthMonitor
    health = next((m for m in run.monitors if isinstance(m, HealthMonitor)), None)
    ctx = Context(c, run, outcome, start, health)
    rng = torch.get_rng_state()
    found = []
    for check in checks:
        try:
            d = check(ctx)
        except Exception as e:  # a check that cannot run on this task says so, and the others go on
            d = Diagnosis("check_failed", "info", f"the check {check.__name__} could not run: {type(e).__name__}: {e}",
                          evidence={"check": check.__name__}, fix="none")
        if d is not None:
            d.iteration = d.iteration or outcome.iterations
            ctx.lr_suspect = ctx.lr_suspect or d.code == "lr_too_low"
            found.append(d)
    torch.set_rng_state(rng)
    return found
