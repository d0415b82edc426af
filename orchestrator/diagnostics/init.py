"""The first forward of fresh weights, before the LR probe: is the loss broken before any update?

The model exactly as the task built it (the stage's own `build`, so the user's initialisation and
`optim.init_scale` apply; never `reset_parameters`) computes the loss of one training batch, and its
gradient, once:
- the loss or a gradient is non-finite: `nonfinite` (error, evidence `before_update`), traced to the
  first module and op (trace.trace_step) with the specific cause (`unstable_softmax`,
  `division_by_zero`, `log_of_zero`) recorded too. No learning rate did this.
- the loss is finite but above `init.loss_factor` (3) x `problem.chance_loss` (for real-valued targets, x the
  larger of it and the loss of all-zero outputs, E[y^2] or E|y|: a fresh net's outputs are ~0): `bad_init_loss`
  (warning). Karpathy 2019, "verify loss @ init". Without a chance_loss that part is skipped
  (`check_skipped`, info). A loss that adds up over the batch (the loss of n examples = the sum of its
  halves': reduction="sum") is said to be one, and does not stop the probe.
- the forward uses trainable tensors that are not the model's parameters (a layer built inside forward, a
  list of layers): `params_not_updating` (error), as the start checks would say a moment later.
- with a `bad_init_loss`, parameters the forward uses get no gradient from the loss (the outputs unpacked in the
  wrong order): `params_not_updating` (error) first, and the warning blames the loss, not the init.
- the loss keeps falling, far below zero, as the outputs move along its gradient: `loss_unbounded` (error;
  unbounded.along_outputs): a loss linear in the outputs (arguments swapped, NLLLoss on raw logits).
- otherwise, a loss below 0 on class-id targets (integer) with a chance_loss: `loss_mismatch` (error, evidence
  `negative`): a negative log-likelihood of classes is never negative (NLLLoss on probabilities: minus the target's
  probability, in [-1, 0]). The probe still runs.
- the forward takes the log of a sigmoid or softmax output (or of 1 minus one): `log_of_zero` (warning;
  logprob.py), -inf once the model is confident. The probe still runs: the loss is sound until then.
- the units of a weight tensor start as copies and get the same gradient (a constant init): `symmetric_units`
  (error; the start checks' test, on this gradient), said before a `bad_init_loss` it explains.
- the outputs, or the loss, are normalised over another dimension than the classes the integer targets index (a
  log_softmax over the positions): `loss_mismatch` (error; readout.py); else the positions the loss ignores hold
  one real token and the padding after it is read (ignore_index=EOS for PAD): `loss_mismatch` (error); else the loss
  reads the outputs at a temperature of 10 or more (cross_entropy(logits / 100, y)): `loss_mismatch` (warning). The
  probe still runs.
Any other finding makes the LR probe stand down (it would blame, and lower, the LR for a broken init, and read
weights drawn afresh at each call as divergence).
Cost: two forwards and backwards and four forwards on one batch (one with its outputs replaced for readout.py,
whose backward stops at them; a trace only when something is
non-finite).
"""
from __future__ import annotations

import math

import torch

from ..diagnosis import Diagnosis, record
from ..trainer import to_device
from .common import batch_targets, model_device, num, zero_output_loss
from .config import InitConfig
from .logprob import ProbabilityLogs, log_of_probability
from .readout import readout
from .startchecks import (UsedTensors, no_gradient, parameter_ids, strays_diagnosis, symmetric, symmetric_diagnosis,
                          unregistered_leaves)
from .trace import CAUSE_CODE, CAUSES, _counts, cause_text, op_place, trace_step
from .unbounded import along_outputs, unbounded_at_start

OK, BROKEN = "ok", "broken"


def check_init(c: InitConfig, stage, problem, settings, sinks, symmetric_rows: int = 0) -> str:
    """OK, or BROKEN when the loss of fresh weights is non-finite or absurd (a diagnosis says which).
    `symmetric_rows`: the start checks' StartConfig.symmetric_rows (0: their symmetric_units is not looked for here)."""
    model = problem.model.to(settings.device)
    model.train()
    # at least 16 examples: at batch size 1 the loss of one or two examples is too noisy to compare with chance
    # (holdout14's resmlp: 1.99 against a variance of 1); the task's own batch size when it cannot batch more
    sizes = list(dict.fromkeys(min(problem.train_size, max(settings.batch_size, k)) for k in (16, 2)))
    for attempt, n in enumerate(sizes):
        try:
            batch = to_device(problem.get_batch(torch.arange(n)), settings.device)
            before = parameter_ids(model)  # a forward that rebuilds a layer replaces some
            logs = ProbabilityLogs()  # a log of a sigmoid/softmax output, -inf once the model is confident
            try:
                with logs:
                    loss = problem.loss(model, batch)
            except Exception:  # noqa: BLE001 - a model the op watch cannot run (a compiled graph?): the loss alone
                logs = ProbabilityLogs()
                loss = problem.loss(model, batch)
            first = float(loss.detach())
            trainable = [name for name, p in model.named_parameters() if p.requires_grad]
            if trainable and not loss.requires_grad:
                # no weight reaches the loss: nothing can train at any LR, and a probe would read its errors
                # as divergence at every LR it tries (a false lr_too_high)
                record(stage, sinks, no_gradient({n: "no gradient reaches it: the loss does not require grad"
                                                  for n in trainable}, False))
                return BROKEN
            strays = unregistered_leaves(loss, model, batch, before)
            bad_grads, copies = [], {}
            if math.isfinite(first):
                loss.backward()
                bad_grads = [name for name, p in model.named_parameters()
                             if p.grad is not None and not bool(torch.isfinite(p.grad).all())]
                if symmetric_rows and not bad_grads:
                    copies = symmetric([(n, p) for n, p in model.named_parameters() if p.requires_grad], symmetric_rows)
            model.zero_grad(set_to_none=True)
            break
        except Exception as e:  # noqa: BLE001 - the stage's own training will raise it properly
            model.zero_grad(set_to_none=True)
            if attempt + 1 < len(sizes):
                continue
            record(stage, sinks, Diagnosis("check_skipped", "info", f"init check: the loss of the first batch could "
                                           f"not be computed ({type(e).__name__}: {e})", evidence={"check": "init"},
                                           fix="none"))
            return OK
    if not math.isfinite(first) or bad_grads:
        nonfinite_at_init(stage, problem, model, batch, first, bad_grads, sinks)
        return BROKEN
    if strays:
        # weights made anew at each call (a layer built in forward) or kept outside the model: no update
        # reaches them, and a probe would read their fresh randomness at every step as divergence
        record(stage, sinks, strays_diagnosis(strays))
        return BROKEN
    if copies:
        # units that start as copies of one another (a constant init) are why the first loss is odd, if it is: said
        # first. Not broken: the loss is sound, and the probe's LR holds for the one-unit-wide net it trains
        record(stage, sinks, symmetric_diagnosis(copies))
    if logs.found:  # a latent fault, not a broken start: the probe still measures the LR
        record(stage, sinks, log_of_probability(logs.found))
    try:
        misread = readout(problem, model, batch)
    except Exception:  # noqa: BLE001 - a loss our scores upset (an op on the outputs' exact values): no verdict
        misread = None
    if misread is not None:  # trains, to a floor or slowly: the probe still measures the LR
        record(stage, sinks, misread)
    unbounded = along_outputs(problem, model, batch)
    if unbounded is not None:  # every LR diverges on such a loss: the probe would blame the LR
        record(stage, sinks, unbounded_at_start(unbounded))
        return BROKEN
    chance = problem.chance_loss
    if chance is None or not chance > 0:
        record(stage, sinks, Diagnosis(
            "check_skipped", "info", "bad_init_loss: the task gives no chance_loss, so the first loss "
            f"({num(first)}) cannot be judged", evidence={"check": "bad_init_loss", "init_loss": num(first)},
            fix="set Problem.chance_loss (e.g. ln(classes) for cross-entropy, the target variance for MSE)"))
        return OK
    targets = batch_targets(problem, batch)
    if first < -NEGATIVE * chance and isinstance(targets, torch.Tensor) and targets.numel() and _counts(targets):
        # a likelihood of class ids is at most 1, so its negative log is never below 0: this loss is not one (NLLLoss
        # on probabilities, a term with the wrong sign). Bounded (along_outputs found no descent to -inf), so it
        # trains, but towards something else; the probe still runs, its LR verdict holds for this loss
        record(stage, sinks, negative_class_loss(first, chance, n))
        return OK
    # a fresh net outputs ~0: real-valued targets that are not centred start at E[y^2], above chance by design
    zero = zero_output_loss(targets)
    if first > c.loss_factor * max(chance, zero or 0.0):
        if summed_over_batch(problem, model, batch, n):
            # a sum over the batch (reduction="sum"): each example's loss may be fine. Not broken: the probe's NaN
            # threshold measures the sum's larger steps (n x the gradient, n x the LR for SGD), so it still runs
            record(stage, sinks, Diagnosis(
                "bad_init_loss", "warning", f"the loss of fresh weights is {num(first)}, {num(first / chance)}x the "
                f"chance loss {num(chance)}, and it adds up over the batch: the loss of {n} examples is the sum of "
                f"the losses of its two halves, so it is summed over the batch (reduction='sum'), not averaged; "
                f"per example it is {num(first / n)}. Its gradient, and so the step, grows with the batch size",
                evidence={"init_loss": num(first), "chance_loss": num(chance), "per_example": num(first / n),
                          "summed": True, "before_update": True, "batch": n},
                fix="average the loss over the batch (reduction='mean', or divide by the batch size); if the sum "
                    "is meant, lower the LR by the batch size (SGD) and state the goals in summed units"))
            return OK
        unreached = used_without_gradient(problem, model, batch)
        if unreached:
            # the loss is not computed from the model's output (the outputs unpacked in the wrong order, a head left
            # out): its value says nothing about the init, and the parts it skips are the bug. Said first (the start
            # checks would say it a moment later, after this warning)
            record(stage, sinks, no_gradient(unreached, True))
        # which data input_scale found unscaled: the inputs make the first outputs huge, the targets the errors
        unscaled = [d["evidence"].get("what", "input") for d in stage.diagnoses if d["code"] == "input_scale"]
        blame = ("the unscaled targets (input_scale) are far from any output fresh weights give" if "target" in unscaled
                 else "the unscaled inputs (input_scale) make the first outputs huge" if unscaled else
                 "the loss is not computed from the model's output (parameters it uses get no gradient, above)"
                 if unreached else "the initialisation (or the loss) is wrong")
        record(stage, sinks, Diagnosis(
            "bad_init_loss", "warning", f"the loss of fresh weights is {num(first)}, {num(first / chance)}x the "
            f"chance loss {num(chance)}, before any update: {blame}, not the learning rate",
            evidence={"init_loss": num(first), "chance_loss": num(chance), "factor": c.loss_factor,
                      "zero_output_loss": None if zero is None else num(zero), "before_update": True, "batch": n},
            fix="initialise the last layer so that logits start near 0 (default init, or scale it down), check "
                "optim.init_scale and the loss (reduction, targets)"))
        return BROKEN
    return OK


NEGATIVE = 0.01  # a first loss below -this x chance_loss is negative beyond rounding


def negative_class_loss(first: float, chance: float, n: int) -> Diagnosis:
    return Diagnosis(
        "loss_mismatch", "error", f"the loss of fresh weights is {num(first)}, below 0, on class-id targets (chance "
        f"loss {num(chance)}): a cross-entropy or negative log-likelihood of classes is never negative, so this loss "
        "is not one. Typically F.nll_loss on probabilities (softmax outputs) instead of log-probabilities: it is then "
        "minus the target's probability, bounded in [-1, 0], and its gradient vanishes on the examples still wrong",
        evidence={"init_loss": num(first), "chance_loss": num(chance), "before_update": True, "batch": n,
                  "negative": True},
        fix="give F.nll_loss log-probabilities (F.log_softmax), or use F.cross_entropy on the raw logits; check the "
            "sign of every term of the loss")


def used_without_gradient(problem, model, batch) -> dict:
    """Trainable parameters one forward of `batch` uses whose gradient from its loss is None (name -> why): parts
    of the model the loss never reaches."""
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    model.zero_grad(set_to_none=True)
    try:
        with UsedTensors({id(p) for _, p in trainable}) as used:
            loss = problem.loss(model, batch)
        if not loss.requires_grad:
            return {}  # said already (the loss does not require grad)
        loss.backward()
        return {name: "used by the forward, but no gradient reaches it (detached?)" for name, p in trainable
                if p.grad is None and id(p) in used.seen}
    except Exception:  # noqa: BLE001 - a forward the mode cannot watch: the start checks look again
        return {}
    finally:
        model.zero_grad(set_to_none=True)


def summed_over_batch(problem, model, batch, n: int) -> bool:
    """The loss of n examples equals the sum of its halves' losses (eval mode, no dropout noise): a sum over the
    batch. A mean gives half that. Only for batches the task splits like any others (one dimension of examples)."""
    if n < 4:
        return False
    was, dev = model.training, str(model_device(model))
    model.eval()
    try:
        with torch.no_grad():
            a = float(problem.loss(model, to_device(problem.get_batch(torch.arange(n // 2)), dev)))
            b = float(problem.loss(model, to_device(problem.get_batch(torch.arange(n // 2, n)), dev)))
            whole = float(problem.loss(model, to_device(problem.get_batch(torch.arange(n)), dev)))
    except Exception:  # noqa: BLE001 - a task whose batches cannot be cut so: no verdict
        return False
    finally:
        model.train(was)
    return all(map(math.isfinite, (a, b, whole))) and abs(whole - (a + b)) <= 0.02 * abs(whole) and whole > 0



def nonfinite_at_init(stage, problem, model, batch, first: float, bad_grads: list, sinks) -> None:
    trace = trace_step(model, problem.loss, batch)
    where = ""
    op = trace.get("op") or {}
    if op:  # the op where the first bad value was born, and the module running it
        module = op.get("module") or trace.get("module")
        if module == "(root)":
            module = f"the model's own forward ({type(model).__name__})"
        where = f", born in op {op.get('op')} ({op.get('phase')}) of {module}"
    if trace.get("module"):
        where += f", first non-finite module output: {trace['module']} ({trace.get('type')})"
    if trace.get("nonfinite_parameters"):
        where += f"; the weights are already non-finite: {', '.join(trace['nonfinite_parameters'][:3])}"
    cause = trace.get("cause")
    if CAUSE_CODE.get(cause, cause) not in (None, "nonfinite"):  # a named bug: said first, it is the root
        record(stage, sinks, Diagnosis(
            cause, "error", cause_text(trace) + f" ({op_place(trace)}, before any update)",
            evidence={"op": op, "module": trace.get("module"), "type": trace.get("type"), "cause": cause,
                      "before_update": True}, fix=CAUSES[cause][1]))
    what = "loss" if not math.isfinite(first) else "gradient"
    record(stage, sinks, Diagnosis(
        "nonfinite", "error", f"the {what} of fresh weights is non-finite on the first batch, before any "
        f"update{where}: no learning rate causes this", evidence={"before_update": True, "loss": num(first),
        "nonfinite_gradients": bad_grads[:10], "trace": trace},
        fix=CAUSES[cause][1] if cause else "look at the named module and op (and the initialisation); the LR "
        "is not the cause"))
