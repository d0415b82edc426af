"""Name where a non-finite value is born: replay one batch with module hooks and an op-level watch.

Forward hooks give the first module (in completion order) whose output is non-finite, with the range of
its input; a TorchDispatchMode gives the first tensor operation (forward or backward) whose output is
non-finite although all its inputs were finite, e.g. `exp` of inputs > 88.7 (float32 overflow). The op
names the cause:

- `unstable_softmax`: `exp` overflowed (inputs above ln(max float)): a hand-written softmax/logsumexp;
  the inf/inf that follows is NaN. Fix: torch.softmax / log_softmax / logsumexp, or subtract the max.
- `division_by_zero`: a division (or reciprocal, or a negative power) by an exact zero, forward or backward
  (e.g. sqrt at 0, x ** -0.5 at 0); a mean over no element (0 / 0: a per-group mean over an empty group).
- `log_of_zero`: log of zero or a negative number, e.g. log(softmax(x)) after the softmax underflowed.
- a fully masked row (code `nonfinite`): a softmax (or x - max) over a row that is all -inf: 0/0.

Intended infinities are not findings: masked attention writes -inf on purpose (masked_fill / where /
full with an inf constant, or a tensor made from float('-inf')). The op-level watch names the first op
where a NaN is born (no NaN in its inputs) or an Inf is born at a position whose inputs were finite
(born_here), so a hand-written softmax under a causal mask is still named `unstable_softmax`.
- otherwise plain overflow (e.g. matmul of exploding weights): the code stays `nonfinite`.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Optional

import torch
from torch import nn

from .common import num

try:
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten
except ImportError:  # pragma: no cover - very old torch: module-level trace only
    TorchDispatchMode = None

EXP_OPS = {"exp", "exp_", "exp2", "expm1", "sinh", "cosh"}
POW_OPS = {"pow", "pow_", "float_power", "float_power_"}
DIV_OPS = {"div", "div_", "reciprocal", "reciprocal_", "true_divide", "floor_divide", "fmod", "remainder", "rsqrt"}
VAR_OPS = {"std", "var", "std_mean", "var_mean"}  # NaN born here: n - 1 = 0 (one element): a division by zero
MEAN_OPS = {"mean", "nanmean"}  # ... and here on no element at all: 0 / 0 (a per-group mean over an empty group)
LOG_OPS = {"log", "log_", "log2", "log10", "log1p", "xlogy"}


def _floats(tree) -> list[torch.Tensor]:
    return [t for t in tree_flatten(tree)[0] if isinstance(t, torch.Tensor) and t.is_floating_point()]


def _finite(t: torch.Tensor) -> bool:
    return t.numel() == 0 or bool(torch.isfinite(t).all())


def value_range(t: torch.Tensor) -> dict:
    t = t.detach().float()
    fin = t[torch.isfinite(t)]
    return {"min": num(fin.min()) if fin.numel() else None, "max": num(fin.max()) if fin.numel() else None,
            "nan": int(torch.isnan(t).sum()), "inf": int(torch.isinf(t).sum()),
            "zeros": int((t == 0).sum()), "numel": t.numel()}


SOFTMAX_OPS = {"_softmax", "softmax", "_log_softmax", "log_softmax", "logsumexp", "_safe_softmax"}


def _scalars(tree) -> list:
    """Numbers an op was given as constants (a 0-dim tensor constant is an input like any other)."""
    return [float(a) for a in tree_flatten(tree)[0] if isinstance(a, (int, float)) and not isinstance(a, bool)]


def born_here(outs: list, tensors: list, scalars: list) -> bool:
    """Did this op turn values into NaN/Inf, rather than pass on (or deliberately write) them?

    - an op given a non-finite constant (masked_fill(mask, -inf), full(..., -inf), where(m, x, -inf)) or
      no tensor at all (a factory: torch.tensor(float('-inf'))) writes its infinities on purpose;
    - NaN is born where an op outputs NaN from inputs without any NaN (exp(-inf) is 0, -inf - -inf is NaN);
    - Inf is born where an output is infinite at a position where every input (broadcast) is finite
      (exp(100) = inf next to masked -inf entries); when an input holding infinities has another shape
      (a reduction over a masked row), the infinity is taken as passed on.
    """
    if any(math.isinf(v) for v in scalars) or not tensors:
        return False
    floats = [t for t in tensors if t.is_floating_point()]
    if any(bool(torch.isnan(t).any()) for t in outs if t.numel()):
        if not any(bool(torch.isnan(t).any()) for t in floats if t.numel()):
            return True
    for o in outs:
        inf = torch.isinf(o)
        if not bool(inf.any()):
            continue
        for t in floats:
            if _finite(t):
                continue
            try:
                inf = inf & torch.isfinite(t).expand(o.shape)
            except RuntimeError:  # another shape: the infinity may be t's, passed on
                inf = torch.zeros_like(inf)
                break
        if bool(inf.any()):
            return True
    return False


def _counts(t: torch.Tensor) -> bool:
    """An integer tensor, not a mask of booleans: numbers an op may compute with (a count it divides by)."""
    return not t.is_floating_point() and not t.is_complex() and t.dtype != torch.bool


def fully_masked_rows(t: torch.Tensor) -> int:
    """Rows (last dimension) whose entries are all -inf: a softmax over them is 0/0."""
    if t.dim() < 1 or t.numel() == 0 or not t.is_floating_point():
        return 0
    return int(torch.isneginf(t).all(-1).sum())


if TorchDispatchMode is not None:
    class _FirstNonFinite(TorchDispatchMode):
        """Records the first op where a NaN or an unintended Inf is born (see born_here)."""

        def __init__(self, where: Callable[[], str]):
            super().__init__()
            self.where, self.phase, self.found = where, "forward", None

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            if self.found is None:
                outs = _floats(out)
                if outs and not all(_finite(t) for t in outs):
                    tensors = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
                    if born_here(outs, tensors, _scalars((args, kwargs))):
                        # integer inputs too, in their places: a sum divided by a count of elements (holdout30's
                        # shapes: h.sum((2, 3)) / (h > 0).sum((2, 3)), 0 / 0 on a dead channel)
                        ins = [t for t in tensors if t.is_floating_point() or _counts(t)]
                        self.found = {"op": func.overloadpacket.__name__, "phase": self.phase,
                                      "module": self.where() if self.phase == "forward" else None,
                                      "inputs": [value_range(t) for t in ins[:3]],
                                      "scalars": [a for a in args if isinstance(a, (int, float))][:2],
                                      "fully_masked_rows": fully_masked_rows(ins[0]) if ins else 0}
            return out


def batch_nonfinite(batch: Any) -> int:
    """NaN/inf values among a batch's floating tensors: a non-finite input is the data's fault. An additive
    attention mask (0 and -inf only) in the batch is intended: its infinities do not count."""
    bad = 0
    for t in _floats(batch):
        nan, inf = torch.isnan(t), torch.isinf(t)
        mask_like = bool(inf.any()) and not bool(t[~(nan | inf)].any())
        bad += int(nan.sum()) + (0 if mask_like else int(inf.sum()))
    return bad


def trace_step(model: nn.Module, loss_fn: Callable, batch: Any) -> dict:
    """Run loss_fn(model, batch) and its backward once with hooks; say where the first non-finite appears."""
    names = {m: (n or "(root)") for n, m in model.named_modules()}
    stack: list[str] = []
    first_module: dict = {}
    handles = []

    def pre(m, inputs):
        stack.append(names[m])

    def post(m, inputs, output):
        if stack:
            stack.pop()
        if first_module:
            return
        outs = _floats(output)
        if outs and not all(_finite(t) for t in outs):
            # an intended -inf (a mask) is no finding: wait for an op to give birth to a bad value, or
            # for a NaN, which only a birth or a non-finite weight can make
            born = mode is None or mode.found is not None
            if not born and not any(bool(torch.isnan(t).any()) for t in outs):
                return
            ins = _floats(inputs)
            first_module.update({"module": names[m], "type": type(m).__name__,
                                 "input": value_range(ins[0]) if ins else None,
                                 "input_finite": all(_finite(t) for t in ins),
                                 "output": value_range(outs[0])})

    for m in model.modules():
        handles.append(m.register_forward_pre_hook(pre))
        handles.append(m.register_forward_hook(post))
    mode = _FirstNonFinite(lambda: stack[-1] if stack else "(loss)") if TorchDispatchMode is not None else None
    result: dict = {}
    bad_weights = [n for n, p in model.named_parameters() if not _finite(p.detach())]
    if bad_weights:
        result["nonfinite_parameters"] = bad_weights[:10]
    bad_inputs = batch_nonfinite(batch)
    if bad_inputs:
        result["batch_nonfinite"] = bad_inputs
    try:
        model.zero_grad(set_to_none=True)
        if mode is not None:
            with mode:
                loss = loss_fn(model, batch)
        else:
            loss = loss_fn(model, batch)
        for h in handles:
            h.remove()
        handles = []
        result["loss"] = num(loss.detach())
        if first_module:
            result.update(phase="forward", **first_module)
        elif not _finite(loss.detach()):
            result.update(phase="loss", module="(loss function)", type="loss")
        else:
            if mode is not None:
                mode.phase = "backward"
                with mode:
                    loss.backward()
            else:
                loss.backward()
            bad = [n for n, p in model.named_parameters() if p.grad is not None and not _finite(p.grad)]
            if bad:
                # backward runs last layer first: the last parameter (registration order) with a bad grad
                # is where the non-finite gradient was born
                owner = bad[-1].rsplit(".", 1)[0] if "." in bad[-1] else "(root)"
                module = dict(model.named_modules()).get("" if owner == "(root)" else owner, model)
                result.update(phase="backward", module=owner, type=type(module).__name__,
                              parameters=bad[:10])
            else:
                result.update(phase="none", module=None, type=None)
    except Exception as e:  # the trace is best effort: never break training over it
        result["trace_error"] = f"{type(e).__name__}: {e}"
    finally:
        for h in handles:
            h.remove()
        model.zero_grad(set_to_none=True)
    if mode is not None and mode.found:
        result["op"] = mode.found
    result["cause"] = classify(result)
    return result


def trace_evaluation(model: nn.Module, evaluate: Callable) -> dict:
    """Run the task's own evaluation once (eval mode, no gradients) under the op watch: the first op of it that
    gives birth to a NaN or an unintended Inf (a log of a density that underflowed to 0 on validation data the
    training batches never reach)."""
    if TorchDispatchMode is None:
        return {}
    mode = _FirstNonFinite(lambda: "(evaluation)")
    was = model.training
    model.eval()
    result: dict = {"phase": "evaluation", "module": None, "type": None}
    try:
        with torch.no_grad(), mode:
            evaluate(model)
    except Exception as e:  # best effort, as trace_step
        result["trace_error"] = f"{type(e).__name__}: {e}"
    finally:
        model.train(was)
    if mode.found:
        result["op"] = dict(mode.found, phase="evaluation")
    result["cause"] = classify(result)
    return result


def classify(trace: dict) -> Optional[str]:
    """The specific code for a trace, or None when it is plain overflow."""
    op = trace.get("op")
    if not op:
        return None
    name, ins = op["op"], op["inputs"]
    if name in EXP_OPS:
        return "unstable_softmax"
    if op.get("fully_masked_rows"):
        return "fully_masked_row"
    if name in VAR_OPS or (name in MEAN_OPS and ins and ins[0].get("numel") == 0):
        return "division_by_zero"
    if name in DIV_OPS:
        den = ins[1] if len(ins) > 1 else (ins[0] if name in ("reciprocal", "reciprocal_", "rsqrt") else None)
        if (den is not None and den["zeros"] > 0) or 0 in op.get("scalars", [])[1:]:
            return "division_by_zero"
    if name in POW_OPS and ins and ins[0]["zeros"] > 0:
        exponent = op.get("scalars", [])[-1:]  # x ** -0.5 at x = 0: a reciprocal in disguise (D^-1/2 of a degree 0)
        if exponent and exponent[0] < 0:
            return "division_by_zero"
    if name in LOG_OPS and ins:
        r = ins[0]
        if r["zeros"] > 0 or (isinstance(r.get("min"), (int, float)) and r["min"] <= 0):
            return "log_of_zero"
    return None


def cause_text(trace: dict) -> str:
    """The traced cause's sentence (CAUSES), with the op's largest input and its phase filled in."""
    op = trace.get("op") or {}
    top = max((r["max"] for r in op.get("inputs", []) if isinstance(r.get("max"), (int, float))), default=None)
    return CAUSES[trace["cause"]][0].format(top=top, phase=op.get("phase", "forward"))


def op_place(trace: dict) -> str:
    """'op <name> in <module>': where the first bad value was born."""
    op = trace.get("op") or {}
    return f"op {op.get('op')} in {op.get('module') or trace.get('module')}"


# the diagnosis code of each cause (the others are codes themselves)
CAUSE_CODE = {"fully_masked_row": "nonfinite"}

CAUSES = {
    "fully_masked_row": ("a softmax over a row whose entries are all -inf (every position masked) is 0/0 = NaN",
                         "make sure every query keeps at least one unmasked key (e.g. padding masks on the keys "
                         "only, never a whole row), or fill masked scores with a large negative finite number"),
    "unstable_softmax": ("an exp overflowed on inputs up to {top} (float32 overflows above 88.7): a hand-written "
                         "softmax/logsumexp turns that into inf/inf = NaN",
                         "use torch.softmax / F.log_softmax / torch.logsumexp, or subtract the row max before exp"),
    "division_by_zero": ("a division by zero in {phase} produced inf/NaN",
                         "add an epsilon to the denominator (x / (d + eps)), or clamp it away from zero"),
    "log_of_zero": ("a log of zero (or a negative number) produced -inf/NaN, e.g. log(softmax(x)) after the "
                    "softmax underflowed", "use F.log_softmax / torch.logsumexp, or log(x.clamp_min(eps))"),
}
