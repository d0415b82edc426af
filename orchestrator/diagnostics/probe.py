"""The LR probe (code `lr_too_high`): find the LR at which training blows up, before the stage trains.

From `probe.lr_max` (or the configured LR, if larger) down by /`probe.factor`: each probe trains fresh
weights (the same `build` the stage uses, so `optim.init_scale` applies) for `probe.iterations`
iterations. A probe fails when the loss goes non-finite, rises above `diverge_factor` x its initial value,
or ends above its initial value. The first clean LR is the NaN threshold T. A configured LR between T and
the probe above it (a factor apart), when that one diverged only after a tenth of its steps, is probed too (a spike
past the ceiling that is back below the first loss half the probe's steps later is not divergence there): clean, it
is the threshold (and kept). The first probe whose loss
goes non-finite is replayed from its last clean 10-step boundary and traced (trace.trace_step); when the
configured LR is above T and the trace names a cause (`unstable_softmax`, `division_by_zero`,
`log_of_zero`), that cause is recorded as an error before `lr_too_high`: the LR triggers it, the op is the bug.
It runs after the data checks (input scale, the loss of fresh weights: see __init__.before_stage) and is
skipped, keeping the configured LR (info `lr_probe`), when the loss of fresh weights is already non-finite
or absurd: the LR is only blamed when the first loss is sane and the divergence follows the updates.

Decision (documented choice): a configured LR above T is lowered to T / `margin` (warning
`lr_too_high`, fix applied); a configured LR at or below T is kept (info `lr_probe`), since the user's
choice trains cleanly and the probe only guards the blow-up side (set `probe.keep_user_lr=false` to
always train at T / margin). The method's range is 1-10x below T, and T / 3 is its high end: a normalised
net under Adam stays finite far above its best LR. So the evidence carries `fallback_lr` = T /
`fallback_margin`, and a stage that fails at the probe's LR is retried once there (policy.RETRY). With `probe.race`
(off by default: slower over whole ladders, see docs/diagnostics.md) both ends are tried first (`_race`), and the
stage trains at the far end when its loss after the probe's iterations is clearly lower.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import torch

from ..diagnosis import Diagnosis, record
from ..optim import make_optimizer
from ..sampler import Sampler
from .common import num
from .nonfinite import _clone
from .trace import CAUSE_CODE, CAUSES, cause_text, op_place, trace_step
from .config import DiagnosticsConfig


ROUNDING = 1e-5  # relative: float32 sums of the same values in another order differ by ~1e-7


def wanted(d: DiagnosticsConfig, stage) -> bool:
    if stage.probe is not None:
        return bool(stage.probe)
    return d.probe.enabled and not stage.after and not getattr(stage, "inserted", False)


def probe_once(build: Callable, knobs: dict, settings, lr: float, iterations: int, diverge: float,
               trace: bool = False, recover: int = 0) -> dict:
    """Train fresh weights at `lr` for up to `iterations` steps. Reads the loss every 10 steps only.
    With `trace`, a non-finite loss is traced (trace.trace_step) from the last clean 10-step boundary. With
    `recover`, a finite loss past the ceiling is watched for that many steps more: back below the first loss by then
    (the mean of the last 10), it was a spike, not divergence (SGD with momentum on a BatchNorm CNN at its
    configured LR overshoots in its first steps and trains)."""
    from ..trainer import optimisation_step, to_device
    problem = build(knobs)
    model = problem.model.to(settings.device)
    model.train()
    opt = make_optimizer(model.parameters(), settings.optim, lr)
    sampler = Sampler(problem.train_size, settings.batch_size, seed=settings.seed)
    losses = torch.empty(iterations, device=settings.device)
    first_bad, init, seen, lowest = None, None, 0, math.inf
    outcome, spiked = "clean", None
    snapshot, steps = (_clone(model.state_dict()), _clone(opt.state_dict())) if trace else None, []
    for i in range(iterations):
        idx = sampler.next()
        steps.append(idx)
        batch = to_device(problem.get_batch(idx), settings.device)
        losses[i] = optimisation_step(model, opt, problem, batch, settings.optim.clip_norm)
        if (i + 1) % 10 == 0 or i + 1 == iterations:
            chunk = losses[seen:i + 1].tolist()
            if init is None:
                init = chunk[0]
            for j, v in enumerate(chunk):
                if not math.isfinite(v):
                    first_bad, outcome = seen + j + 1, "nonfinite"
                    break
                lowest = min(lowest, v)
                if init is not None and math.isfinite(init) and v > _ceiling(init, lowest, diverge):
                    if not recover:
                        first_bad, outcome = seen + j + 1, "diverged"
                        break
                    spiked = spiked or seen + j + 1
            seen = i + 1
            if outcome == "clean" and spiked and (seen >= spiked + recover or seen == iterations):
                recent = losses[max(0, seen - 10):seen].tolist()
                if not sum(recent) / len(recent) < init:
                    first_bad, outcome = spiked, "diverged"
            if outcome != "clean":
                break
            if trace:
                snapshot, steps = (_clone(model.state_dict()), _clone(opt.state_dict())), []
    values = losses[:seen].tolist()
    final = sum(values[-10:]) / len(values[-10:]) if values else float("nan")
    # below the first loss by more than float rounding: a loss that cannot move (dead units) gives the same mean
    # over a permuted full batch to the last bits, which fell either side of it by machine
    if outcome == "clean" and init is not None and not final < init - ROUNDING * abs(init):
        outcome = "no_progress"
    result = {"lr": lr, "outcome": outcome, "first_bad_iteration": first_bad, "iterations": seen,
              "initial_loss": num(init if init is not None else float("nan"), 4), "final_loss": num(final, 4)}
    if spiked and outcome == "clean":
        result["spiked_at"] = spiked  # past the ceiling there, back below the first loss after
    if trace and outcome == "nonfinite":
        result["trace"] = _replay(problem, model, opt, snapshot, steps, settings)
    return result


def _ceiling(init: float, lowest: float, diverge: float) -> float:
    """The loss above which a probe has diverged: `diverge` x its first loss, as lr_find does. A loss that is not
    bounded below (a Gaussian likelihood with a learnt variance) may cross zero, where a multiple of the first loss
    means nothing: there the same multiple of the way it has come down (a clean Gaussian head under Adam at its
    configured LR spikes from -3.1 to 3.4 and is back at -1.8 two steps later: not divergence)."""
    return init + (diverge - 1) * max(init, init - lowest, 1e-8)


def _replay(problem, model, opt, snapshot, steps: list, settings) -> dict:
    """From the last clean snapshot, redo the steps one at a time; trace the first that breaks."""
    from ..trainer import optimisation_step, to_device
    model.load_state_dict(snapshot[0])
    opt.load_state_dict(snapshot[1])
    try:
        for idx in steps:
            batch = to_device(problem.get_batch(idx), settings.device)
            loss = problem.loss(model, batch)
            opt.zero_grad(set_to_none=True)
            ok = bool(torch.isfinite(loss.detach()).all())
            if ok:
                loss.backward()
                ok = all(bool(torch.isfinite(p.grad).all()) for p in model.parameters() if p.grad is not None)
            if not ok:
                return trace_step(model, problem.loss, batch)
            optimisation_step(model, opt, problem, batch, settings.optim.clip_norm)
    except Exception as e:  # noqa: BLE001 - best effort
        return {"trace_error": f"{type(e).__name__}: {e}"}
    return {"reproduced": False}


def run_probe(d: DiagnosticsConfig, cfg, stage, build: Callable, settings, sinks) -> Optional[float]:
    p = d.probe
    user_lr = settings.lr
    lr = max(p.lr_max, user_lr)
    probes, threshold = [], None
    traced = None  # the first non-finite probe is traced: a named bug (unstable_softmax, ...) is no LR problem
    for k in range(p.max_probes):
        result = probe_once(build, stage.knobs, settings, lr, p.iterations, p.diverge_factor, trace=traced is None)
        if "trace" in result:
            traced = result.pop("trace")
            traced["lr"] = lr
        probes.append(result)
        _plot(stage, sinks, k, result)
        if result["outcome"] == "clean":
            threshold = lr
            break
        if result["first_bad_iteration"] == 1:  # non-finite before any update: no LR can be the cause
            return _not_the_lr(stage, sinks, probes, user_lr, "on its first batch, before any update")
        lr /= p.factor
    above = next((r for r in reversed(probes) if r["lr"] > (threshold or math.inf)), None)
    if (threshold is not None and user_lr > threshold and not any(_same(r["lr"], user_lr) for r in probes)
            and above is not None and above["outcome"] == "diverged"
            and (above["first_bad_iteration"] or 0) > p.iterations // 10):
        # the configured LR lies between the last clean probe and one that diverged only after its first tenth of
        # steps (the threshold lies close to it; a NaN is never that, it may be a layer's), a factor apart: the
        # grid cannot tell, so it is probed itself (SGD with momentum at 0.05 on BatchNorm CNNs: clean, while
        # 0.111 blew up at its 95th step in one, its 12th in holdout49's crosses). Not when the probe above blew up
        # at once (Adam at 1.0 on an LSTM, at step 2: 0.5 survives 100 steps, not a stage)
        result = probe_once(build, stage.knobs, settings, user_lr, p.iterations, p.diverge_factor,
                            recover=p.iterations // 2)
        probes.append(result)
        _plot(stage, sinks, len(probes) - 1, result)
        if result["outcome"] == "clean":
            threshold = user_lr
    evidence = {"probes": probes, "threshold": threshold, "configured_lr": user_lr, "margin": p.margin}
    if traced and traced.get("cause") and (threshold is None or user_lr > threshold):
        # only when the configured LR itself would break: at LRs far above it any exp overflows
        _name_cause(stage, sinks, traced)
    low = probes[-3:]  # the lowest LRs tried
    bad_at = {r["first_bad_iteration"] for r in low}
    if threshold is None and len(low) == 3 and len(bad_at) == 1 and all(r["outcome"] == "nonfinite" for r in low):
        # the same step goes non-finite at every LR over orders of magnitude: that step's batch, not the LR
        return _not_the_lr(stage, sinks, probes, user_lr, f"at iteration {bad_at.pop()} at every LR tried")
    if threshold is None and probes[-1]["outcome"] == "no_progress":
        # the lowest LRs did not diverge, the loss just did not move: nothing says the LR is too high
        record(stage, sinks, Diagnosis(
            "lr_probe", "info", f"no LR from {num(max(p.lr_max, user_lr))} down to {num(lr * p.factor)} made the "
            f"loss fall in {p.iterations} iterations, and the lowest did not diverge: the loss does not move at any "
            f"LR, so the probe cannot judge it; keeping the configured LR {num(user_lr)}",
            evidence={**evidence, "lr": user_lr}, fix="look at why the loss does not move (params_not_updating, "
            "dead_units, the loss itself)"))
        return None
    if threshold is None:
        record(stage, sinks, Diagnosis(
            "lr_too_high", "warning", f"no LR from {num(max(p.lr_max, user_lr))} down to {num(lr * p.factor)} "
            f"trained cleanly for {p.iterations} iterations: the loss diverges at every LR tried",
            evidence=evidence, fix="look for a bug (see the non-finite trace) or lower diagnostics.probe.lr_max"))
        return None
    if user_lr > threshold or not p.keep_user_lr:
        train_lr, margin, why = threshold / p.margin, p.margin, ""
        far = threshold / p.fallback_margin if p.fallback_margin > p.margin else None
        if far is not None and p.race:
            race = _race(build, stage, settings, p, train_lr, far)
            evidence["race"] = race
            if race["winner"] == far:  # the far end already: there is nothing lower to retry the stage at
                train_lr, margin, far = far, p.fallback_margin, None
                why = (f": in {p.iterations} steps from fresh weights it reached a loss of "
                       f"{num(race['far']['final_loss'])}, against {num(race['high']['final_loss'])} at threshold/"
                       f"{num(p.margin)}")
        if far is not None:
            evidence["fallback_lr"] = far
        severity, code = ("warning", "lr_too_high") if user_lr > threshold else ("info", "lr_probe")
        record(stage, sinks, Diagnosis(
            code, severity, f"the configured LR {num(user_lr)} is {'above' if user_lr > threshold else 'below'} "
            f"the NaN threshold {num(threshold)} found by {len(probes)} probe(s); training at threshold/"
            f"{num(margin)} = {num(train_lr)}{why}", evidence={**evidence, "lr": train_lr},
            fix=f"set optim.lr <= {num(train_lr)}", applied=f"LR {num(user_lr)} -> {num(train_lr)}"))
        return train_lr
    record(stage, sinks, Diagnosis(
        "lr_probe", "info", f"the configured LR {num(user_lr)} is at or below the NaN threshold {num(threshold)} "
        f"found by {len(probes)} probe(s); keeping it", evidence={**evidence, "lr": user_lr},
        fix="none needed"))
    return user_lr


def _race(build: Callable, stage, settings, p, high: float, far: float) -> dict:
    """The method's range is 1-10x below the NaN threshold: its two ends, each from the same fresh weights for the
    probe's iterations. The far end wins only when its loss is clearly lower (below `race_ratio` x the high end's),
    else the high end, which trains fastest where both settle: SGD, or a net that takes large steps well. Under
    Adam a Transformer stays finite far above its best LR (benchmarks/holdout16's masked LM: 525 steps to fit 10
    examples at threshold/3, 50 at threshold/10, and a stage's whole budget spent before the retry there)."""
    runs = {"high": probe_once(build, stage.knobs, settings, high, p.iterations, p.diverge_factor),
            "far": probe_once(build, stage.knobs, settings, far, p.iterations, p.diverge_factor)}
    h, f = (float(runs[k]["final_loss"]) if runs[k]["outcome"] in ("clean", "no_progress") else math.nan
            for k in ("high", "far"))
    # a ratio of losses reads only for losses >= 0 (a Gaussian likelihood may be negative: then the high end)
    clearly = math.isfinite(f) and f >= 0 and (not math.isfinite(h) or f < p.race_ratio * h)
    return {**runs, "winner": far if clearly else high}


def _plot(stage, sinks, k: int, result: dict) -> None:
    """Probe k on TensorBoard (x axis: the probe's index)."""
    lr = result["lr"]
    sinks.scalars(stage, k, {"probe/lr": lr, "probe/log10_lr": math.log10(lr),
                             "probe/final_loss": _plottable(result["final_loss"]),
                             "probe/clean": float(result["outcome"] == "clean")})


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b))


def _name_cause(stage, sinks, trace: dict) -> None:
    """A probe's loss went non-finite and the trace named the op: record that cause (an error), so it
    ranks above the LR the probe then lowers (the LR only triggers it; the op is the bug)."""
    cause = trace["cause"]
    op = trace.get("op") or {}
    record(stage, sinks, Diagnosis(
        CAUSE_CODE.get(cause, cause), "error", cause_text(trace)
        + f" ({op_place(trace)}, found by the LR probe at LR {num(trace['lr'])})",
        evidence={"op": op, "module": trace.get("module"), "type": trace.get("type"), "cause": cause,
                  "probe_lr": trace["lr"]}, fix=CAUSES[cause][1]))


def _not_the_lr(stage, sinks, probes: list, user_lr: float, when: str) -> float:
    record(stage, sinks, Diagnosis(
        "nonfinite", "error", f"the LR probe's loss goes non-finite {when}: the data or the model, not the "
        f"learning rate, makes it; keeping the configured LR {num(user_lr)}",
        evidence={"probes": probes, "before_update": when.endswith("before any update"), "not_the_lr": True},
        fix="look for NaN/inf in the training data and for ops that break on some inputs (log, sqrt, division)"))
    return user_lr


def skip_probe(stage, settings, sinks) -> Optional[float]:
    """The data or the fresh weights are broken before any update: no LR is to blame, keep the configured one."""
    said = sorted({d["code"] for d in stage.diagnoses if d["severity"] in ("warning", "error")}) or ["above"]
    record(stage, sinks, Diagnosis(
        "lr_probe", "info", f"LR probe skipped: the data or the model as built is already broken before any update "
        f"(see {', '.join(said)}), so no LR threshold can be measured; keeping the configured LR "
        f"{num(settings.lr)}", evidence={"skipped": True, "lr": settings.lr},
        fix="fix what the checks before it found first"))
    return settings.lr


def _plottable(x) -> float:
    return x if isinstance(x, float) and math.isfinite(x) else float("nan")
