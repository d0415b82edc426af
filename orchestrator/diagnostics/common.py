"""Small pieces the checks share: numbers for evidence, batches, fresh weights."""
from __future__ import annotations

import copy
import math
from typing import Any, Optional

import torch
from torch import nn

from ..task import same_sequence  # noqa: F401 - the diagnostics import their batch helpers from here


def num(x: float, digits: int = 3) -> float:
    """A float rounded for evidence (JSON-friendly: non-finite values become strings)."""
    x = float(x)
    if not math.isfinite(x):
        return str(x)
    return float(f"{x:.{digits}g}")


INPUT_KEYS = ("x", "input", "inputs", "src")  # where a dict batch keeps the model's input


def first_tensor(batch: Any) -> Optional[torch.Tensor]:
    """The model input of a batch in the usual layouts: a tensor, (inputs, ...) or {'x'|'input(s)': ...}."""
    if isinstance(batch, torch.Tensor):
        return batch
    if isinstance(batch, (list, tuple)) and batch and isinstance(batch[0], torch.Tensor):
        return batch[0]
    if isinstance(batch, dict):
        for key in INPUT_KEYS:
            if isinstance(batch.get(key), torch.Tensor):
                return batch[key]
    return None


TARGET_NAMES = ("y", "tgt", "target", "label", "dec")  # keys (and their prefixes) on the targets' side


def source_keys(batch: dict, targets) -> list:
    """The keys of a dict batch that hold an example's source: a conventional input key with its companions
    (src with src_len, src_mask), else every batch-first tensor that is neither the targets nor named or
    built like them (a decoder input holds the targets shifted by one)."""
    key = next((k for k in INPUT_KEYS if isinstance(batch.get(k), torch.Tensor)), None)
    if key is not None:
        return [] if batch[key] is targets else [k for k in batch if k == key or str(k).startswith(f"{key}_")]
    if not isinstance(targets, torch.Tensor) or not targets.dim():
        return []
    shifted = shifted_inputs(batch, targets) if targets.dim() == 2 else []  # a decoder input, by its content
    return [k for k, v in batch.items()
            if isinstance(v, torch.Tensor) and v is not targets and v.dim() and v.shape[0] == targets.shape[0]
            and not str(k).lower().startswith(TARGET_NAMES) and k not in shifted]


SHIFT_MATCH = 0.75  # a decoder input misses the end-of-sequence token: L of L+1 positions match


def _sequences(batch: Any, floating: bool = False) -> list:
    """(key, tensor) for each 2-D integer tensor of the batch (token ids), or floating one (a series' values):
    the batch itself (key None), a tuple's items, a dict's."""
    if isinstance(batch, torch.Tensor):
        items = [(None, batch)]
    elif isinstance(batch, (list, tuple)):
        items = list(enumerate(batch))
    elif isinstance(batch, dict):
        items = list(batch.items())
    else:
        items = []
    return [(k, v) for k, v in items if isinstance(v, torch.Tensor) and v.dim() == 2 and v.dtype != torch.bool
            and v.is_floating_point() == floating]


def shifted_inputs(batch: Any, targets: torch.Tensor) -> list:
    """The keys of the batch tensors whose column t+1 holds the targets' column t (a decoder input, an LM's
    tokens, a series' past values for next-step prediction): None for a bare tensor batch, an index in a
    tuple, a key in a dict."""
    return [key for key, x in _sequences(batch, targets.is_floating_point()) if _holds_targets(x, targets, 1)]


def _holds_targets(x: torch.Tensor, targets: torch.Tensor, shift: int) -> bool:
    """Column t + shift of x equals the targets' column t on most positions (shift -1: x is the targets shifted
    left, column t holds target t + 1)."""
    if x is targets or x.shape[0] != targets.shape[0] or x.shape[1] < 3:
        return False
    if shift >= 0:
        n = min(x.shape[1] - shift, targets.shape[1])
        xs, ts = x[:, shift:n + shift], targets[:, :n]
    else:
        n = min(x.shape[1], targets.shape[1] + shift)
        xs, ts = x[:, :n], targets[:, -shift:n - shift]
    if n < 1:
        return False
    same = xs == ts
    # padding matches padding anywhere: judge the positions whose target is not the commonest value
    told = ts != torch.mode(ts.flatten()).values
    return int(told.sum()) >= 8 and float(same[told].float().mean()) >= SHIFT_MATCH


def aligned_inputs(batch: Any, targets: torch.Tensor, shift: int = 0) -> list:
    """The keys of the target-side batch tensors (a dict key named like the targets, `tgt_in`; a tuple item
    between the first and the targets) whose column t + shift holds the targets' column t: a decoder input sliced
    like the targets instead of shifted right (shift 0), or shifted left (-1), so position t is fed its own answer
    or the next one. A source that equals the targets (a copy task) is no such input: it is named and placed as a
    source."""
    if isinstance(batch, dict):
        items = [(k, v) for k, v in _sequences(batch) if str(k).lower().startswith(TARGET_NAMES)]
    elif isinstance(batch, (list, tuple)):
        items = [(k, v) for k, v in _sequences(batch) if 0 < k < len(batch) - 1]
    else:
        items = []
    return [key for key, x in items if _holds_targets(x, targets, shift)]


def targets_of(batch: Any) -> Optional[torch.Tensor]:
    """The targets of an (inputs, ..., targets) batch, else None."""
    if isinstance(batch, (list, tuple)) and len(batch) >= 2 and isinstance(batch[-1], torch.Tensor):
        return batch[-1]
    if isinstance(batch, dict):
        for key in ("y", "target", "targets", "labels", "tgt"):
            if isinstance(batch.get(key), torch.Tensor):
                return batch[key]
    return None


def zero_output_loss(targets) -> Optional[float]:
    """For real-valued targets, the loss of outputs that are all 0, as a fresh network's nearly are: its MSE
    starts at E[y^2] (L1 at E|y|), not at chance_loss (the variance: the loss of predicting the mean), so
    targets that are not centred (pixels to reconstruct, positive quantities) start above chance by design."""
    if not isinstance(targets, torch.Tensor) or not targets.is_floating_point() or not targets.numel():
        return None
    t = targets.detach().float()
    t = t[torch.isfinite(t)]
    if not t.numel():
        return None
    return max(float((t * t).mean()), float(t.abs().mean()))


def same_losses(losses: list) -> bool:
    """Single examples' losses that are all one value (InfoNCE with in-batch negatives is exactly 0 without any):
    the loss compares examples within a batch by design, so one example alone has nothing to fit or compare."""
    return len(losses) >= 2 and all(math.isfinite(v) and v == losses[0] for v in losses)


def compares_examples(problem, model: nn.Module, get, k: int = 4) -> bool:
    """`same_losses` for the first `k` training examples alone (`get(indices)` -> a batch), in eval mode without
    gradients (a BatchNorm in training mode refuses one example)."""
    k = min(k, problem.train_size)
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            return same_losses([float(problem.loss(model, get(torch.tensor([i])))) for i in range(k)])
    finally:
        model.train(was)


def run_model(problem, model: nn.Module, batch: Any) -> Optional[torch.Tensor]:
    """The model's outputs on a batch (batch first): problem.forward if the task gives it, else
    model(inputs) for the usual layouts; None when there is no safe way to call the model."""
    if problem.forward is not None:
        return problem.forward(model, batch)
    x = first_tensor(batch)
    if x is None:
        return None
    out = model(x)
    return out if isinstance(out, torch.Tensor) else None


def batch_targets(problem, batch: Any) -> Optional[torch.Tensor]:
    """The targets of a batch: problem.targets if the task gives it, else the usual layouts."""
    if problem.targets is not None:
        return problem.targets(batch)
    return targets_of(batch)


def map_tensors(fn, x: Any) -> Any:
    """`x` with `fn` applied to every tensor in it (tuples, namedtuples, lists and dicts rebuilt alike)."""
    if isinstance(x, torch.Tensor):
        return fn(x)
    if isinstance(x, (list, tuple)):
        return same_sequence(x, [map_tensors(fn, v) for v in x])
    if isinstance(x, dict):
        return {k: map_tensors(fn, v) for k, v in x.items()}
    return x


def tensors_in(x: Any) -> list:
    """Every tensor in a (nested) output or batch: a tensor, lists, tuples and dicts of them."""
    if isinstance(x, torch.Tensor):
        return [x]
    if isinstance(x, (list, tuple)):
        return [t for v in x for t in tensors_in(v)]
    if isinstance(x, dict):
        return [t for v in x.values() for t in tensors_in(v)]
    return []


def model_device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def fresh_copy(model: nn.Module, initial_state: Optional[dict] = None) -> nn.Module:
    """A copy of the model as the task built it: `initial_state` is its state_dict captured before any
    training or warm start (StageRun.initial_state), so the user's own initialisation, which may be the
    bug, is kept. Without it, each module's reset_parameters() (a custom init is lost)."""
    fresh = copy.deepcopy(model)
    if initial_state is not None:
        fresh.load_state_dict(initial_state)
        return fresh
    for m in fresh.modules():
        if hasattr(m, "reset_parameters") and callable(m.reset_parameters):
            try:
                m.reset_parameters()
            except Exception:  # a custom module's reset may need arguments: keep its copied weights
                pass
    return fresh


def state_copy(model: nn.Module) -> dict:
    """A detached copy of the model's state_dict (weights and buffers)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def weight_layers(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """Weight matrices/kernels (dim >= 2) in registration order: the layers, first to last."""
    return [(n, p) for n, p in model.named_parameters() if p.dim() >= 2]


def zero_weights(named: list) -> list:
    """The weights (not biases) of `named` (name, tensor) pairs that are all zeros."""
    def zero(p) -> bool:
        t = p.detach()
        return not bool((t.coalesce().values() if t.is_sparse else t).any())
    return [n for n, p in named if not n.endswith("bias") and p.numel() and zero(p)]


def zero_initialised(named: list) -> Optional[str]:
    """The first weight (not a bias) of `named` (name, parameter) pairs that is all zeros, or None: a zero init
    (Glow's couplings, ReZero's scale, LoRA's B) that blocks the first gradient of the layers before it on purpose."""
    return next(iter(zero_weights(named)), None)


def warn_if_failed(run, seen: Optional[dict], outcome, message: Optional[str] = None, **evidence) -> None:
    """A diagnosis recorded as info when seen (`seen`: its dict), recorded again as a warning once the stage failed,
    dated when it was seen so that it keeps its place in the order: a symptom that is no fault while the stage
    trains on (dead units after a set pooling, gradient spikes while memorising) and may be why it failed. Held in
    `run.deferred` when that is a list: the engine records it only when no root cause explains the failure.
    `message` (default: the seen one) and `evidence` bring it up to date."""
    if seen and not outcome.converged:
        from ..diagnosis import Diagnosis
        message = (message or seen["message"]) + ", and the stage failed"
        d = Diagnosis(seen["code"], "warning", message, iteration=seen["iteration"],
                      evidence={**seen["evidence"], **evidence}, fix=seen["fix"], time=seen["time"])
        if run.deferred is not None:  # judged after the failure checks (engine.run_stage)
            run.deferred.append(d)
        else:
            run.diagnose(d)


def leaf_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n or "(root)", m) for n, m in model.named_modules() if not any(True for _ in m.children())]


HELD_OUT = ("val", "valid", "validation", "dev", "test", "eval", "heldout", "held_out")


def training_side(metric: str) -> Optional[str]:
    """`val/acc` -> `train/acc` (also `valid_`, `test/`, ...); None for a metric that is not held-out."""
    for sep in ("/", "_", "-", "."):
        head, _, rest = metric.partition(sep)
        if rest and head.lower() in HELD_OUT:
            return f"train{sep}{rest}"
    return None
