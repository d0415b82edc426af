"""The most likely cause of a stalled stage: its diagnoses (and its ancestors') ranked by evidence.

A stage that fails often carries several diagnoses, and the loudest is rarely the root: unscaled inputs
make the LR probe find a low NaN threshold (`lr_too_high`), a broken init makes the loss non-finite
(`nonfinite`), a wrong label pipeline leaves dead units behind. The ranking, best first:

1. the tier of the code: ROOT causes (bad data, bad init, a bug a check named precisely) before
   SYMPTOMS (what a root cause, or a hard problem, looks like from the training curve); where the data check
   found unscaled inputs (`input_scale`, before any training), the non-finite roots (`log_of_zero`, ...) rank
   below the other roots: a feature of 50,000 drives an exp or a softmax into exact 0s and infs, so the NaN a
   layer then makes is its consequence;
2. severity: error before warning (info never counts: it reports, it does not accuse);
3. a symptom recorded after the orchestrator applied a fix (lowered LR, clipping, a search's settings)
   ranks below symptoms seen before any fix: it may be the fix's consequence;
4. the stage's own diagnoses before its ancestors' (their data and init checks still count);
5. earlier before later (the first sign is nearer the root).
A failure check (params_not_updating, overfit_batch_size_1, ...) recorded after the stage's training went
non-finite ranks last: it ran on NaN weights, where "no change" and "cannot fit" mean nothing.

An `lr_too_high` measured after a failure (a tenth of the LR fit the stage's examples far better, evidence
`lower_lr_fits`) is a root too: the dead units or spikes a too-large step leaves are its consequence. So are the
optimiser's settings read or measured (MEASURED: a clip far below the gradients, a schedule or decay ending the steps,
swapped betas, a loss that climbed back, a weight decay that holds the loss up).

A `nonfinite` whose trace named a cause (`unstable_softmax`, ...) is a symptom: the cause is recorded
as its own diagnosis and ranks as a root. A `nonfinite` found before any update (the init check,
evidence `before_update`), in the data (evidence `what`) or at every LR the probe tried (`not_the_lr`)
is a root: no LR made it.
"""
from __future__ import annotations

from typing import Optional

# bad data, bad init, bugs: each says what to change
ROOT = {"labels_not_learnable", "params_not_updating", "batch_dependence", "unstable_softmax",
        "division_by_zero", "log_of_zero", "input_scale", "bad_init_loss", "leakage", "trivial_labels",
        "loss_unbounded", "task_error", "loss_mismatch", "symmetric_units",
        "random_eval"}
# roots in the data that the checks before training find, and the non-finite values a layer then makes of such
# inputs (a feature of 50,000 drives a softmax into exact zeros and infs): those rank below them
DATA = {"input_scale"}
NAN_ROOTS = {"unstable_softmax", "division_by_zero", "log_of_zero", "nonfinite"}
# what a root cause (or a hard problem) looks like from the outside
SYMPTOM = {"nonfinite", "lr_too_high", "exploding_gradients", "vanishing_gradients", "dead_units",
           "saturated_units", "overfit_batch_size_1", "lr_too_low", "loss_floor", "warm_start_partial"}
SEVERITY = {"error": 0, "warning": 1}
# evidence that an LR or a decay finding was measured or read off the settings, not inferred from the curve's shape:
# ten times the LR fit far better, a clip far below the gradients, a schedule or the optimiser's own decay ending the
# steps, Adam's betas swapped, the loss climbing back on the same examples, fresh weights fitting far better without
# the weight decay (holdout55's cupping/adamax_weight_decay_0.3: vanishing_gradients was its consequence), or one
# example fit without it and not with it (holdout52's seismic/sgd_weight_decay_0.5)
MEASURED = {"higher_lr_fits", "tight_clip", "own_decay", "peak_lr", "betas", "loss_climbed", "loss_without",
            "final_loss_without", "settles_lower"}
# of those, settings no LR changes (the optimiser's own decay, a schedule that ends the steps, swapped betas): the
# cause says so (`settings`), and the policy stops instead of inserting stages or searching the LR around them
SETTINGS = {"own_decay", "peak_lr", "betas"}
# checks that retrain or re-run the model after a failure: on weights that went non-finite they misfire
AFTER_FAILURE = {"params_not_updating", "batch_dependence", "labels_not_learnable", "overfit_batch_size_1",
                 "bad_init_loss", "lr_too_low", "loss_mismatch"}

WHY = {0: "a root cause (data, init or a named bug)", 1: "a symptom, the strongest seen",
       2: "judged after the training went non-finite"}


def tier(d: dict) -> int:
    code = d.get("code")
    evidence = d.get("evidence") or {}
    if code == "nonfinite":
        named = (evidence.get("trace") or {}).get("cause")
        if named and named in ROOT:
            return 1  # its named cause (unstable_softmax, ...) is its own diagnosis, and ranks above it
        if evidence.get("before_update") or evidence.get("not_the_lr") or evidence.get("what"):
            return 0  # no update made it: the init, or the data (what: input / target / batch)
    if code in ROOT:
        return 0
    if code == "lr_too_high" and evidence.get("lower_lr_fits"):
        return 0  # measured, not inferred: a tenth of the LR fit the stage's own examples far better
    if code == "loss_floor" and evidence.get("predicted"):
        return 0  # measured: one example's prediction was learnt while its loss stayed high, the loss's own doing
    if code in ("lr_too_high", "lr_too_low", "loss_floor") and MEASURED & set(evidence):
        return 0  # the optimiser's settings, read or measured: what a vanishing gradient or a dead unit follows from
    return 1


def most_likely_cause(ladder, stage) -> Optional[dict]:
    """{code, severity, message, why} for `stage`, or None when no warning/error points anywhere."""
    ancestors = _ancestors(ladder, stage)
    candidates = [(d, True) for d in stage.diagnoses] + [(dict(d, stage=s.name), False)
                                                         for s in ancestors for d in s.diagnoses]
    fix_times = [d.get("time", 0) for d, _ in candidates if d.get("applied")]
    first_fix = min(fix_times) if fix_times else None
    nan_times = [d.get("time", 0) for d in stage.diagnoses if d.get("code") == "nonfinite"]
    went_nonfinite = min(nan_times) if nan_times else None
    data_seen = any(d.get("code") in DATA and d.get("severity") in SEVERITY for d, _ in candidates)
    ranked = []
    for order, (d, own) in enumerate(candidates):
        if d.get("severity") not in SEVERITY:
            continue
        t = tier(d)
        if (own and went_nonfinite is not None and d.get("code") in AFTER_FAILURE
                and d.get("time", 0) > went_nonfinite):
            t = 2
        after_fix = (t == 1 and first_fix is not None and not d.get("applied")
                     and d.get("time", 0) > first_fix)
        after_data = data_seen and d.get("code") in NAN_ROOTS  # what a layer made of unscaled inputs
        ranked.append(((t, after_data, SEVERITY[d["severity"]], after_fix, not own, d.get("time", 0), order), d, own))
    if not ranked:
        return None
    ranked.sort(key=lambda r: r[0])
    key, best, own = ranked[0]
    others = [r[1]["code"] for r in ranked[1:]]
    why = WHY[key[0]] + f", {best['severity']}"
    if not own:
        why += f", found in stage {best.get('stage')}"
    if others:
        why += "; ranked above " + ", ".join(dict.fromkeys(others))
    return {"code": best["code"], "severity": best["severity"], "message": best["message"], "why": why,
            "stage": best.get("stage") or stage.name, "root": key[0] == 0, "iteration": best.get("iteration"),
            "after_fix": key[3], "settings": bool(SETTINGS & set(best.get("evidence") or {}))}


def _ancestors(ladder, stage) -> list:
    try:
        names = ladder.ancestors(stage.name)
    except Exception:  # no ladder, or a stage outside its graph: no ancestors
        return []
    return [s for s in ladder.order() if s.name in names]
