"""Look at the data: a few training examples exactly as the model receives them, at each stage start.

The method's "print statements to make sure things look like you expect": shapes, dtypes, value ranges
and the first example of each part of a batch, then the task's own reading of it (`Problem.show_batch`,
like fastai's show_batch: e.g. the sentences behind the token ids) when it offers one.
"""
from __future__ import annotations

from typing import Any

import torch

EXAMPLES = 4    # examples shown per stage
FIRST_VALUES = 8  # values of the first example shown per tensor


def parts(batch: Any, name: str = "batch") -> list[tuple[str, Any]]:
    """(name, leaf) pairs of a batch: a tensor, a tuple/list or dict of them (nested), or anything else."""
    if isinstance(batch, dict):
        return [p for k, v in batch.items() for p in parts(v, str(k))]
    if isinstance(batch, (tuple, list)) and any(isinstance(b, (torch.Tensor, dict, tuple, list)) for b in batch):
        return [p for i, v in enumerate(batch) for p in parts(v, f"{name}[{i}]")]
    return [(name, batch)]


def _num(v: float) -> str:
    return f"{v:.4g}"


def describe(name: str, value: Any) -> str:
    """One list item: dtype, shape, range and the first example's leading values."""
    if not isinstance(value, torch.Tensor):
        return f"- `{name}`: {type(value).__name__} {str(value)[:60]}"
    t = value.detach()
    head = f"- `{name}`: {str(t.dtype).replace('torch.', '')}, shape {' × '.join(str(n) for n in t.shape) or 'scalar'}"
    if t.numel() == 0:
        return head + ", empty"
    f = t.float()
    finite = f[torch.isfinite(f)]
    rng = f"{_num(finite.min().item())} … {_num(finite.max().item())}" if finite.numel() else "no finite value"
    if t.is_floating_point() and finite.numel():
        rng += f" (mean {_num(finite.mean().item())})"
    if finite.numel() < f.numel():
        rng += f", {f.numel() - finite.numel()} non-finite"
    first = (t[0] if t.dim() else t).flatten()
    values = ", ".join(_num(v) if t.is_floating_point() else str(int(v)) for v in first[:FIRST_VALUES].tolist())
    more = f", … ({first.numel()} values)" if first.numel() > FIRST_VALUES else ""
    return f"{head}, values {rng}; first example [{values}{more}]"


def show_batch(problem, examples: int = EXAMPLES) -> str:
    """Markdown: the first `examples` training examples as one batch, described and (if the task can) decoded.

    Never raises: a failure to show the data is said in the text, and training goes on (it will say more).
    The global RNG is restored, so showing the data changes no result.
    """
    n = max(1, min(examples, problem.train_size))
    rng = torch.get_rng_state()
    try:
        batch = problem.get_batch(torch.arange(n))
        rows = [describe(name, value) for name, value in parts(batch)]
        text = [f"The first {n} training examples, as one batch exactly as the model receives it:", "", *rows]
        hook = getattr(problem, "show_batch", None)
        if hook is not None:
            text += ["", "As the task reads them:", ""]
            text += [f"{i + 1}. {line}" for i, line in enumerate(hook(batch))]
        return "\n".join(text)
    except Exception as e:  # the data could not be shown: say so in one line
        return f"(could not show the training data: {type(e).__name__}: {' '.join(str(e).split())[:200]})"
    finally:
        torch.set_rng_state(rng)
