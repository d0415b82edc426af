"""Name where a non-finite value is born: replay one batch with module hooks and an op-level watch.

Forward hooks give the first module (in completion order) whose output is non-finite, with the range of
its input; a TorchDispatchMode gives the first tensor operation (forward or backward) whose output is
non-finite although all its inputs were finite, e.g. `exp` of inputs > 88.7 (float32 overflow). The op
names the cause:

- `unstable_softmax`: `exp` overflowed (inputs above ln(max float)): a hand-written softmax/logsumexp;
  the inf/inf that follows is NaN. Fix: torch.softmax / log_softmax / logsumexp, or subtract the max.
- `division_by_zero`: a division (or reciprocal) by an exact zero, forward or backward (e.g. sqrt at 0).
- `log_of_zero`: log of zero or a negative number, e.g. log(softmax(x)) after the softmax underflowed.
- otherwise plain overflow (e.g. matmul of exploding weights): the code stays `nonfinite`.
"""
from __future__ import annotations

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
DIV_OPS = {"div", "div_", "reciprocal", "reciprocal_", "true_divide", "floor_divide", "fmod", "remainder", "rsqrt"}
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


if TorchDispatchMode is not None:
    class _FirstNonFinite(TorchDispatchMode):
        """Records the first op whose floating output is non-finite while its floating inputs are finite."""

        def __init__(self, where: Callable[[], str]):
            super().__init__()
            self.where, self.phase, self.found = where, "forward", None

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            if self.found is None:
                outs = _floats(out)
                if outs and not all(_finite(t) for t in outs):
                    ins = _floats((args, kwargs))
                    if all(_finite(t) for t in ins):
                        self.found = {"op": func.overloadpacket.__name__, "phase": self.phase,
                                      "module": self.where() if self.phase == "forward" else None,
                                      "inputs": [value_range(t) for t in ins[:3]],
                                      "scalars": [a for a in args if isinstance(a, (int, float))][:2]}
            return out


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


def classify(trace: dict) -> Optional[str]:
    """The specific code for a trace, or None when it is plain overflow."""
    op = trace.get("op")
    if not op:
        return None
    name, ins = op["op"], op["inputs"]
    if name in EXP_OPS:
        return "unstable_softmax"
    if name in DIV_OPS:
        den = ins[1] if len(ins) > 1 else (ins[0] if name in ("reciprocal", "reciprocal_", "rsqrt") else None)
        if (den is not None and den["zeros"] > 0) or 0 in op.get("scalars", [])[1:]:
            return "division_by_zero"
    if name in LOG_OPS and ins:
        r = ins[0]
        if r["zeros"] > 0 or (isinstance(r.get("min"), (int, float)) and r["min"] <= 0):
            return "log_of_zero"
    return None


CAUSES = {
    "unstable_softmax": ("an exp overflowed on inputs up to {top} (float32 overflows above 88.7): a hand-written "
                         "softmax/logsumexp turns that into inf/inf = NaN",
                         "use torch.softmax / F.log_softmax / torch.logsumexp, or subtract the row max before exp"),
    "division_by_zero": ("a division by zero in {phase} produced inf/NaN",
                         "add an epsilon to the denominator (x / (d + eps)), or clamp it away from zero"),
    "log_of_zero": ("a log of zero (or a negative number) produced -inf/NaN, e.g. log(softmax(x)) after the "
                    "softmax underflowed", "use F.log_softmax / torch.logsumexp, or log(x.clamp_min(eps))"),
}
