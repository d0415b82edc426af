"""Look at the data: a few training examples exactly as the model receives them, at each stage start.

The method's "print statements to make sure things look like you expect": shapes, dtypes, value ranges
and the first example of each part of a batch, then the task's own reading of it (`Problem.show_batch`,
like fastai's show_batch: e.g. the sentences behind the token ids) when it offers one.
"""
from __future__ import annotations

from typing import Any, Optional

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
    """Markdown: the first training examples, described and (if the task can) read back; see `look`."""
    return look(problem, examples)[0]


def look(problem, examples: int = EXAMPLES) -> tuple[str, Optional[torch.Tensor]]:
    """The first `examples` training examples as one batch: (markdown, images or None).

    The markdown describes every part of the batch and lists the task's reading of it when its
    `Problem.show_batch` returns lines; when that returns images (N x H x W or N x C x H x W), they come
    back as a batch for TensorBoard, scaled to 0..1 and enlarged so that 8x8 digits are visible on a card.
    Never raises: a failure to show the data is said in the text, and training goes on (it will say more).
    The global RNG is restored, so looking at the data changes no result.
    """
    n = max(1, min(examples, problem.train_size))
    rng = torch.get_rng_state()
    try:
        batch = problem.get_batch(torch.arange(n))
        rows = [describe(name, value) for name, value in parts(batch)]
        text = [f"The first {n} training examples, as one batch exactly as the model receives it:", "", *rows]
        hook = getattr(problem, "show_batch", None)
        shown = hook(batch) if hook is not None else None
        if isinstance(shown, torch.Tensor):
            images = as_images(shown)
            text += ["", f"As the task draws them: {len(images)} images (TensorBoard, Images: data/training_batch)"]
            return "\n".join(text), images
        if shown is not None:
            text += ["", "As the task reads them:", ""]
            text += [f"{i + 1}. {line}" for i, line in enumerate(shown)]
        return "\n".join(text), None
    except Exception as e:  # the data could not be shown: say so in one line
        return f"(could not show the training data: {type(e).__name__}: {' '.join(str(e).split())[:200]})", None
    finally:
        torch.set_rng_state(rng)


MIN_SIDE = 96  # pixels: small images are enlarged (nearest neighbour) to at least this


def as_images(images: torch.Tensor) -> torch.Tensor:
    """N x C x H x W floats in 0..1 (C 1 or 3), enlarged so that the shorter side is at least MIN_SIDE."""
    x = images.detach().float().cpu()
    if x.dim() == 3:
        x = x.unsqueeze(1)
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"show_batch returned a tensor of shape {tuple(images.shape)}: expected N x H x W "
                         "or N x C x H x W with C 1 or 3")
    x = torch.nan_to_num(x)
    low, high = x.amin(), x.amax()
    x = (x - low) / (high - low) if high > low else torch.zeros_like(x)
    factor = max(1, -(-MIN_SIDE // min(x.shape[-2:])))
    return torch.nn.functional.interpolate(x, scale_factor=factor, mode="nearest") if factor > 1 else x
