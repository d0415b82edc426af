"""A log taken of a probability: log(sigmoid(z)), log(1 - sigmoid(z)) or log(softmax(x)) written out by hand.

float32 rounds sigmoid(z) to exactly 1 above z ~ 17 and to 0 below z ~ -104 (a softmax alike, far from its row's
maximum), and the log of that 0 is -inf: a loss that trains for a while and turns NaN once the model grows
confident (a binary cross-entropy or a cross-entropy written out), or that silently stops passing gradients.
F.logsigmoid, log_softmax, binary_cross_entropy_with_logits and cross_entropy never round through the probability.

Seen in one forward of fresh weights, long before anything is non-finite: an op watch (TorchDispatchMode, so
nn.Sigmoid, F.softmax and Tensor.sigmoid look alike) marks the outputs of sigmoid and softmax, follows them
through views, indexing, `1 - p` and negation, and names a log that receives one. A probability made safe first
(`p.clamp(min=eps)`, `p + eps`) is another tensor: no finding.
"""
from __future__ import annotations

import traceback
from typing import Optional

import torch

from ..diagnosis import Diagnosis
from ..taskerror import innermost_user_frame

try:
    from torch.utils._python_dispatch import TorchDispatchMode
except ImportError:  # pragma: no cover - very old torch: no op watch
    TorchDispatchMode = object

PROBABILITY = {"sigmoid", "_softmax", "softmax"}
# ops whose output holds the same probabilities (a part of them, another shape)
SAME = {"view", "_unsafe_view", "reshape", "select", "slice", "index", "gather", "squeeze", "unsqueeze", "transpose",
        "permute", "t", "expand", "clone", "alias", "index_select", "masked_select", "diagonal", "unbind", "split",
        "chunk", "split_with_sizes", "narrow", "flatten", "contiguous", "take_along_dim", "movedim", "_to_copy"}
# which logs go to -inf on which mark: log(p), log(1 - p), and log1p(-p) = log(1 - p)
LOGS = {"log": {"p", "1-p"}, "log2": {"p", "1-p"}, "log10": {"p", "1-p"}, "log1p": {"-p"}}


class ProbabilityLogs(TorchDispatchMode):
    """Watches the ops of one forward (and loss); `found` is the first log of a probability, or None."""

    def __init__(self):
        super().__init__()
        self.marks: dict[int, tuple[str, str]] = {}  # id(tensor) -> (mark, what made it: sigmoid / softmax)
        self.alive: list = []  # the marked tensors, kept so that no id is reused during the forward
        self.found: Optional[dict] = None

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        try:
            if self.found is None:
                self._see(func.overloadpacket.__name__.rstrip("_"), args, out)
        except Exception:  # noqa: BLE001 - the watch must never change what the forward computes
            pass
        return out

    def _see(self, op: str, args, out) -> None:
        first = args[0] if args else None
        mark = self.marks.get(id(first)) if isinstance(first, torch.Tensor) else None
        if op in PROBABILITY:
            self._mark(out, ("p", "softmax" if "softmax" in op else "sigmoid"))
        elif mark and op in LOGS:
            if mark[0] in LOGS[op]:
                self.found = {"op": op, "of": mark[1], "complement": mark[0] != "p", "where": _user_line()}
        elif mark and op in SAME:
            self._mark(out, mark)
        elif mark and op == "neg" and mark[0] == "p":
            self._mark(out, ("-p", mark[1]))
        elif op == "rsub" and mark and mark[0] == "p" and len(args) > 1 and _is_one(args[1]):
            self._mark(out, ("1-p", mark[1]))  # 1 - p (Python's `1 - p` is rsub(p, 1))
        elif op == "sub" and len(args) > 1 and isinstance(args[1], torch.Tensor) and _is_one(args[0]):
            second = self.marks.get(id(args[1]))
            if second and second[0] == "p":
                self._mark(out, ("1-p", second[1]))

    def _mark(self, out, mark) -> None:
        for t in out if isinstance(out, (list, tuple)) else (out,):
            if isinstance(t, torch.Tensor) and t.is_floating_point():
                self.marks[id(t)] = mark
                self.alive.append(t)


def _is_one(x) -> bool:
    if isinstance(x, torch.Tensor):
        return x.numel() == 1 and float(x.detach()) == 1.0
    return x == 1


def _user_line() -> Optional[str]:
    """file:line of the innermost frame in the user's own code (taskerror's rule): the line that took the log."""
    frame = innermost_user_frame(traceback.extract_stack())
    return f"{frame.filename}:{frame.lineno}" if frame else None


def log_of_probability(found: dict) -> Diagnosis:
    what = f"1 - {found['of']}(x)" if found["complement"] else f"{found['of']}(x)"
    stable = ("F.logsigmoid(x) / F.logsigmoid(-x), or F.binary_cross_entropy_with_logits on the logits"
              if found["of"] == "sigmoid" else "F.log_softmax(x, dim), or F.cross_entropy / F.nll_loss(log_softmax)")
    where = f" at {found['where']}" if found.get("where") else ""
    return Diagnosis(
        "log_of_zero", "warning",
        f"the forward takes {found['op']}({what}){where}: float32 rounds the {found['of']} to exactly 0 or 1 once "
        f"the model is confident, and the log of that 0 is -inf (a NaN loss, or gradients that stop), which the "
        f"fresh weights do not show yet",
        evidence={"op": found["op"], "of": found["of"], "complement": found["complement"], "where": found.get("where")},
        fix=f"take the log in one stable op: {stable}; or clamp the probability first (p.clamp(min=1e-7))")
