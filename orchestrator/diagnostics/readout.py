"""How the loss reads the model's outputs (code `loss_mismatch`): whether it reads the targets at all, over which
dimension, which positions, at what temperature.

Three faults that train, only worse, and that one forward of fresh weights shows exactly. The model's outputs are kept,
and the loss is fed them plus unit noise by a forward hook (no backward through the model): its gradient with respect
to those scores says how it reads them. Integer targets say which dimension holds the classes (the one whose removal
leaves the targets' shape, larger than every target, along which the gradient is lowest at the target).

0. The targets not paired with their examples. `F.cross_entropy(logits, y, label_smoothing=1.0)` (0.1 meant), a
   target computed from the outputs (`logits.argmax(-1)`), the decoder's input passed where the targets were meant,
   `F.mse_loss(out, y)` with (B, 1) outputs and (B,) targets (broadcast: every output against every target): the
   loss is the same whichever example's targets each example gets, so nothing can learn them, and every later check
   sees only "cannot fit". Named when, at the same scores (real-valued targets plus noise of their spread, else the
   outputs plus unit noise), the loss and its gradient do not move when the targets are moved one example on (a
   quarter of the entries or more changed), while the outputs are shaped to be scored against those targets (class
   scores, or the targets' own shape) and the model itself does not read them. Targets that are a copy of an input
   (an autoencoder reading its input as the target) are not judged.
1. Normalised over the wrong dimension. `F.log_softmax(logits, dim=1)` on (batch, time, classes) logits trains, but
   its loss has a floor: each class's scores are normalised across the positions, so no position can be confident of
   one class without taking that class away from the others. Nothing is non-finite, the loss falls for a while, and a
   one-example fit stalls at a plausible level (read as label smoothing). Named when
   - the model's outputs are log-probabilities (logsumexp 0) or probabilities (sum 1) along another dimension and
     not along the classes: the model normalised over it; or
   - the loss does not change when a constant is added along another dimension (its gradient sums to 0 there, to
     float32 rounding) but does along the classes: the loss normalised over it. A cross-entropy over the classes is
     invariant along the classes, and along nothing else.
   The batch's own dimension (0) is not judged here: mixing examples is the start checks' `batch_dependence`.
2. The wrong token ignored. `F.cross_entropy(..., ignore_index=EOS)` where PAD was meant: the positions the loss
   ignores (zero gradient) hold one real class id, one per row, and the padding after them is read: the model never
   learns to end a sequence and is taught to predict padding.
3. A temperature. `F.cross_entropy(logits / 100, y)`: the gradient of a cross-entropy of scores z / T is, per
   position, a multiple of softmax(z / T) - onehot(target). Fitted over T (a multiple per position: any reduction or
   weighting), a loss whose gradient is that of T >= 10 within 1%, and far from that of T = 1, reads near-uniform
   probabilities from outputs of the usual size: the optimised loss stays near chance long after the predictions
   are right, and the model must grow its outputs T-fold to train (holdout36's tetromino: 5-10x slower). A scale
   above 1 (a cosine classifier's s = 64, T = 1/64) is not judged; nor are two classes (every T fits then).
"""
from __future__ import annotations

import math
from typing import Optional

import torch

from ..diagnosis import Diagnosis
from .common import batch_targets, num, same_sequence

EXACT = 1e-4     # |logsumexp| or |sum - 1| below this at every position: normalised (float32 rounding is ~1e-6)
INVARIANT = 1e-5  # a gradient summed along a dimension, over its size, below this x its typical size: invariant
AGREE = 0.9      # the share of positions whose lowest gradient along a dimension is at the target: the classes
VARIES = 1e-3     # ... and along the classes above this: the loss sees a shift of the classes' scores
TEMPERATURES = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0)  # those fitted to the gradient
HOT = 10.0        # the fitted temperature from which it is named
FIT = 0.01        # ... when it fits the gradient this well (a share of its size)
FAR = 0.1         # ... and a plain cross-entropy (T = 1) fits it no better than this
CHANGED = 0.25    # targets_unread: at least this share of the targets' entries differ once swapped
TAIL_ROWS = 0.5   # rows with one ignored position followed by a read, constant tail: at least this share


def readout(problem, model, batch) -> Optional[Diagnosis]:
    """`loss_mismatch` when the loss does not pair each example's outputs with its own targets, else when the outputs
    or the loss are normalised along a dimension that is not the classes', else when the loss ignores a real token
    and reads the padding after it, else when it reads the outputs at a temperature of 10 or more; None otherwise, or
    when it cannot tell."""
    targets = batch_targets(problem, batch)
    if not isinstance(targets, torch.Tensor):
        return None
    fixed: dict = {}  # the scores fed to the loss in place of the outputs, by shape: the same in every call
    first = _fed_loss(problem, model, batch, targets, fixed)
    if first is None and targets.is_floating_point():  # scored at the targets' values the loss overflowed (a
        fixed = {}  # log-rate head: exp(100)): at the model's own outputs plus noise instead
        first = _fed_loss(problem, model, batch, targets, fixed, own=True)
    if first is None:
        return None  # the loss runs the model on several inputs, or its output is not one float tensor: no single
        # output to judge
    unread = targets_unread(problem, model, batch, targets, first, fixed)
    if unread is not None:
        return unread
    if targets.is_floating_point():
        return multi_hot_softmax(targets, first)
    probe = _probe(targets, first, fixed)
    if probe is None:
        return None
    return wrong_dimension(*probe) or ignored_not_padding(*probe) or temperature(*probe)


def multi_hot_softmax(targets: torch.Tensor, first: tuple) -> Optional[Diagnosis]:
    """Multi-hot targets (0/1, shaped like the outputs, several 1s in some rows) under a loss that normalises the scores
    over the classes: its gradient sums to 0 along them in every row (a softmax is unchanged by a constant added to
    every class), so the classes compete for one unit of probability while a row asks for several at once; the loss
    has a floor (two marked classes: 2 ln 2 at best) and a threshold on each class's score means nothing."""
    _, grad, out = first
    if out.shape != targets.shape or out.ndim < 2 or out.shape[-1] < 3:
        return None
    y = targets.detach()
    if not bool(((y == 0) | (y == 1)).all()):
        return None  # probabilities or real values: a soft-label cross-entropy may be meant
    marked = y.sum(-1)
    several = float((marked >= 2).double().mean())
    if several < 0.1:
        return None  # one class per row (one-hot as floats): a softmax cross-entropy is right
    size = grad.abs().sum(-1)
    read = size > 0  # a row with no class marked has no loss under a soft-target cross-entropy
    if float(read.double().mean()) < 0.5 or \
            float((grad.sum(-1).abs()[read] / size[read]).max()) > INVARIANT * grad.shape[-1]:
        return None  # the loss is not normalised over the classes (BCE reads each class alone)
    return Diagnosis(
        "loss_mismatch", "error",
        f"the targets mark several classes per example ({several:.0%} of the rows have two or more 1s, as many as "
        f"{int(marked.max())}) but the loss normalises the scores over the classes (its gradient sums to zero along "
        "them, as a softmax cross-entropy's does): the classes share one unit of probability, so no example can be "
        "given all its classes, the loss keeps a floor above zero and per-class thresholds mean nothing",
        evidence={"multi_hot": round(several, 3), "most_marked": int(marked.max()), "before_update": True},
        fix="use binary_cross_entropy_with_logits (BCEWithLogitsLoss) for multi-label targets, one sigmoid per class")


def _probe(targets: torch.Tensor, first: tuple, fixed: dict) -> Optional[tuple]:
    """(outputs, scores fed to the loss, the loss's gradient at them (double), targets, class dimension), or None."""
    if targets.is_floating_point() or targets.is_complex():
        return None  # only class-id targets say which dimension holds the classes
    _, grad, out = first
    if out.ndim < 2 or not bool(torch.isfinite(out).any()):
        return None
    classes = class_dim(grad, targets)
    return None if classes is None else (out, fixed[tuple(out.shape)].double(), grad, targets, classes)


def targets_unread(problem, model, batch, targets: torch.Tensor, first: tuple, fixed: dict) -> Optional[Diagnosis]:
    """The loss is blind to the targets: replacing each example's targets by another example's changes neither the
    loss nor its gradient at the same scores (`first`: _fed_loss on the batch as it is, which filled `fixed`)."""
    where = _slots(batch, targets)
    if not where or targets.ndim < 1 or len(targets) < 2 or _copies_an_input(batch, targets):
        return None
    others = targets.roll(1, 0)
    if float((others != targets).double().mean()) < CHANGED:
        return None  # alike targets: a swap would hide nothing
    calls = [_fed_loss(problem, model, b, targets, fixed) for b in (batch, _replaced(batch, where, others))]
    if any(c is None for c in calls):
        return None
    (same, g_same, out), (again, g_again, _), (swapped, g_swapped, out_swapped) = [first] + calls
    if not _scored_against(out, targets) or not torch.equal(out, out_swapped):
        return None  # outputs not of the targets' kind, or a model that reads the targets itself (its own loss)
    if not _close(same, g_same, again, g_again):
        return None  # a loss that is not the same twice (sampling of its own): no verdict
    if not _close(same, g_same, swapped, g_swapped):
        return None  # it reads them
    if tuple(out.shape) in fixed and not _blind_at_own_outputs(problem, model, batch, where, others, targets, out):
        return None  # scored at the targets' own values, the loss swamped them (a log-rate head: exp(30) = 1e13)
    return Diagnosis(
        "loss_mismatch", "error", f"the loss does not pair each example's outputs with its own targets: with the "
        f"targets moved one example on, the loss of the same outputs {tuple(out.shape)} is unchanged ({num(same)}) and "
        "so is its gradient. Either it does not read the targets (label_smoothing=1.0, a target computed from the "
        "outputs, the wrong tensor passed as the target), or it compares every output with every target ((B, 1) "
        "outputs broadcast against (B,) targets) or the targets out of order: nothing can learn which label goes "
        "with which input",
        evidence={"loss": num(same), "loss_other_targets": num(swapped), "targets_changed":
                  round(float((others != targets).double().mean()), 3), "shape": list(out.shape),
                  "before_update": True},
        fix="give the loss the batch's targets, of the outputs' shape and in the examples' order "
            "(F.cross_entropy(logits, y), F.mse_loss(out.squeeze(-1), y)); a label_smoothing well below 1")


def _fed_loss(problem, model, batch, targets: torch.Tensor, fixed: dict, own: bool = False) -> Optional[tuple]:
    """(loss, its gradient at the fed scores, the model's own outputs) with the model's outputs replaced by scores
    of our own, the same in every call (`fixed` holds them by shape) and the random state seeded alike (dropout draws
    the same masks); None when the model's output is not one float tensor."""
    outputs: list = []

    def feed(module, args, out):
        if not isinstance(out, torch.Tensor) or not out.is_floating_point():
            return None
        if tuple(out.shape) not in fixed:
            fixed[tuple(out.shape)] = _scores(out.detach(), targets, own)
        scores = fixed[tuple(out.shape)].clone().requires_grad_()
        outputs.extend([out.detach(), scores])
        return scores

    handle = model.register_forward_hook(feed)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            loss = problem.loss(model, batch)
    finally:
        handle.remove()
    if not outputs or not isinstance(loss, torch.Tensor) or not loss.requires_grad or loss.numel() != 1:
        return None
    out, scores = outputs[0], outputs[1::2]
    if any(not torch.equal(o, out) for o in outputs[2::2]):
        return None  # the model run on different inputs (a decoder step by step): no single output to judge
    # the same output twice (a loss that runs the model again, one of the results unused): the scores' gradients add
    grads = [g for g in torch.autograd.grad(loss, scores, allow_unused=True) if g is not None]
    grad = sum(grads) if grads else None
    if grad is None or not bool(torch.isfinite(grad).all()) or not math.isfinite(float(loss.detach())):
        return None
    return float(loss.detach()), grad.double(), out


def _blind_at_own_outputs(problem, model, batch, where, others, targets, out) -> bool:
    """The same swap at the model's own outputs plus unit noise: also unchanged. Real-valued targets are first scored
    at their own values plus noise (an L1 loss far from them reads only signs), but a loss that exponentiates its
    scores (a Poisson log-rate, raw counts of 30: exp(30) = 1e13) is then blind to the targets in float32 rounding
    (holdout52's bikes)."""
    if not targets.is_floating_point():
        return True  # the scores were the outputs plus noise already
    own: dict = {}
    calls = [_fed_loss(problem, model, b, targets, own, own=True) for b in (batch, _replaced(batch, where, others))]
    if any(c is None for c in calls):
        return True
    (same, g_same, _), (swapped, g_swapped, _) = calls
    return _close(same, g_same, swapped, g_swapped)


def _scores(out: torch.Tensor, targets: torch.Tensor, own: bool = False) -> torch.Tensor:
    """Scores that make the loss read each target: real-valued targets of the outputs' size plus noise of their own
    spread (fresh outputs far from the targets put an L1 loss where its gradient is the sign alone, and outputs of a
    huge input swamp the targets in float32), else the outputs plus unit noise."""
    g = torch.Generator(device=out.device).manual_seed(0)
    noise = torch.randn(out.shape, generator=g, device=out.device, dtype=out.dtype)
    if targets.is_floating_point() and targets.numel() == out.numel() and not own:
        t = targets.detach().to(out.dtype).reshape(out.shape)
        spread = float(t.std()) if t.numel() > 1 else 0.0
        return t + noise * max(spread, 1e-3 * float(t.abs().max()), 1e-6)
    return out + noise


def _close(a: float, ga: torch.Tensor, b: float, gb: torch.Tensor) -> bool:
    """The same loss and gradient, to float32 rounding."""
    scale = max(abs(a), 1e-12)
    gscale = float(ga.abs().max()) or 1e-12
    return abs(a - b) <= 1e-5 * scale and float((ga - gb).abs().max()) <= 1e-5 * gscale


def _slots(batch, targets) -> list:
    """The keys or positions holding the targets tensor itself in a dict or sequence batch (a dict may give it under
    two names), else []."""
    if not isinstance(targets, torch.Tensor):
        return []
    items = batch.items() if isinstance(batch, dict) else enumerate(batch) if isinstance(batch, (list, tuple)) else ()
    return [k for k, v in items if v is targets]


def _replaced(batch, where: list, value):
    if isinstance(batch, dict):
        return {**batch, **{k: value for k in where}}
    return same_sequence(batch, [value if i in where else v for i, v in enumerate(batch)])


def _copies_an_input(batch, targets: torch.Tensor) -> bool:
    """The targets are also in the batch as another tensor of the same values (an autoencoder's input)."""
    values = batch.values() if isinstance(batch, dict) else batch
    return any(isinstance(v, torch.Tensor) and v is not targets and v.shape == targets.shape and torch.equal(v, targets)
               for v in values)


def _scored_against(out: torch.Tensor, targets: torch.Tensor) -> bool:
    """Outputs made to be compared with the targets: scores over classes the integer targets index (a dimension
    whose removal leaves their shape, larger than every target), or real-valued outputs of the targets' own shape."""
    shape = tuple(out.shape)
    if targets.is_floating_point():
        return shape == tuple(targets.shape) or (shape[-1:] == (1,) and shape[:-1] == tuple(targets.shape))
    valid = targets[targets >= 0]
    top = int(valid.max()) if valid.numel() else -1
    return any(shape[:d] + shape[d + 1:] == tuple(targets.shape) and shape[d] > top for d in range(len(shape)))


def wrong_dimension(out, scores, grad, targets, classes: int) -> Optional[Diagnosis]:
    """Outputs, or a loss, normalised along another dimension than the classes' (not the batch's)."""
    if out.ndim < 3:
        return None  # (batch, classes) outputs have no other dimension than the batch's
    values = out.detach().double()
    if normalised(values, classes) is None:
        for d in other_dims(out, classes):
            kind = normalised(values, d)
            if kind is not None:
                return _finding(out, d, classes, kind, "outputs")
    if shift_response(grad, classes) < VARIES:
        return None  # invariant along the classes: a normalisation over them, as it should be
    for d in other_dims(out, classes):
        if shift_response(grad, d) < INVARIANT:
            return _finding(out, d, classes, "loss", "loss")
    return None


def ignored_not_padding(out, scores, grad, targets, classes: int) -> Optional[Diagnosis]:
    """Per-position targets whose ignored positions hold one real class id and are followed, in most rows, by a tail
    the loss reads that is one constant value: the loss skips a token inside the sequences (EOS) and scores the
    padding after it (ignore_index naming EOS where PAD was meant)."""
    if targets.ndim != 2 or targets.shape[1] < 3:
        return None
    read = positions_read(grad, classes)
    skipped = ~read
    if not bool(skipped.any()) or not bool(read.any()):
        return None
    ignored = targets[skipped]
    if bool((ignored < 0).any()) or not bool((ignored == ignored[0]).all()):
        return None  # -100 marks, or several values: a mask of the loss's own, not one token
    tails = []
    for row_read, row_skipped, row in zip(read, skipped, targets):
        where = torch.nonzero(row_skipped).flatten()
        if len(where) != 1:
            continue
        after = int(where[0]) + 1
        tail = row[after:]
        if len(tail) >= 2 and bool(row_read[after:].all()) and bool((tail == tail[0]).all()):
            tails.append(int(tail[0]))
    if len(tails) < TAIL_ROWS * len(targets) or len(set(tails)) != 1:
        return None
    token, pad = int(ignored[0]), tails[0]
    return Diagnosis(
        "loss_mismatch", "error", f"the loss ignores the targets {token}, one position inside each sequence, and "
        f"reads the run of {pad} after it to the end of the row in {len(tails)} of {len(targets)} examples: it skips "
        f"a real token (an end-of-sequence?) and scores the padding instead (ignore_index names the wrong token), so "
        f"the model never learns to end a sequence and is trained to predict padding",
        evidence={"ignored_target": token, "read_tail": pad, "rows": len(tails), "examples": len(targets),
                  "before_update": True},
        fix=f"set ignore_index to the padding's id ({pad}?) rather than {token}, or mask the padding positions")


def temperature(out, scores, grad, targets, classes: int) -> Optional[Diagnosis]:
    """The loss's gradient is a cross-entropy's at scores / T, T >= HOT: a temperature that keeps it near chance."""
    if out.shape[classes] < 3:
        return None  # two classes: softmax - onehot has one direction per position, which every T fits
    read = positions_read(grad, classes)
    z, g, y = scores.movedim(classes, -1)[read], grad.movedim(classes, -1)[read], targets[read]
    if not len(y) or bool((y < 0).any()):
        return None
    onehot = torch.nn.functional.one_hot(y, z.shape[-1]).double()
    misfit = {t: _misfit(g, torch.softmax(z / t, -1) - onehot) for t in TEMPERATURES}
    best = min(misfit, key=misfit.get)
    if best < HOT or misfit[best] > FIT or misfit[1.0] < FAR:
        return None
    shape = tuple(out.shape)
    return Diagnosis(
        "loss_mismatch", "warning", f"the loss reads the model's outputs {shape} at a temperature of about {best:g}: "
        f"its gradient is a cross-entropy's of outputs / {best:g} (within {100 * misfit[best]:.1g}% at every position "
        f"it reads; {100 * misfit[1.0]:.0f}% off a plain cross-entropy's), so outputs of the usual size give it "
        "near-uniform probabilities. The optimised loss stays near chance long after the predictions are right, and "
        f"the model must grow its outputs {best:g}-fold to train: it learns slowly, if at all",
        evidence={"temperature": best, "misfit": round(misfit[best], 5), "misfit_at_1": round(misfit[1.0], 3),
                  "class_dim": classes, "shape": list(shape), "before_update": True},
        fix="drop the division of the logits in the loss (F.cross_entropy(logits, y)); a temperature, if one is meant, "
            "near 1")


def _misfit(g: torch.Tensor, v: torch.Tensor) -> float:
    """How far g is from a multiple of v at each position (its own multiple each: any reduction or weighting), as a
    share of g's size."""
    scale = (g * v).sum(-1, keepdim=True) / (v * v).sum(-1, keepdim=True).clamp_min(1e-300)
    return float((g - scale * v).norm() / g.norm().clamp_min(1e-300))


def class_dim(grad: torch.Tensor, targets: torch.Tensor) -> Optional[int]:
    """The dimension of the outputs the targets index: removing it leaves the targets' shape, it is larger than every
    target (padding ids below 0, e.g. -100, do not count), and along it the loss's gradient is lowest at the target
    (a loss that rewards the target class: cross-entropy, NLL, label smoothing) at `AGREE` of the positions the loss
    reads. None when no dimension or several fit ((batch, 13, 13) outputs: 13 positions and 13 classes). The gradient
    only breaks a tie between dimensions the shapes allow: where one alone fits, a loss normalised over another
    dimension moves its gradient's lowest entry off the target (holdout60's sortlm/log_softmax_over_positions on
    (batch, 17, 13) scores: the only (batch, 17) reading missed at the 90%, and the bug went unnamed for 170 s)."""
    shape = grad.shape
    if len(shape) != targets.ndim + 1:
        return None
    valid = targets[targets >= 0]
    top = int(valid.max()) if valid.numel() else -1
    shaped = [d for d in range(len(shape))
              if tuple(shape[:d]) + tuple(shape[d + 1:]) == tuple(targets.shape) and shape[d] > top]
    fits = []
    for d in shaped:
        read = positions_read(grad, d)
        if bool(read.any()) and (len(shaped) == 1 or float(
                (grad.movedim(d, -1).argmin(-1) == targets)[read].double().mean()) >= AGREE):
            fits.append(d)
    return fits[0] if len(fits) == 1 else None


def positions_read(grad: torch.Tensor, classes: int) -> torch.Tensor:
    """The positions (the targets' shape) whose scores along `classes` get a gradient: those the loss reads, not the
    padding it ignores."""
    return grad.movedim(classes, -1).abs().amax(-1) > 0


def other_dims(out: torch.Tensor, classes: int) -> list:
    """The dimensions besides the batch's (0) and the classes', of more than one entry."""
    return [d for d in range(1, out.ndim) if d != classes and out.shape[d] > 1]


def normalised(values: torch.Tensor, d: int) -> Optional[str]:
    """'log-probabilities' or 'probabilities' when `values` are normalised along `d` at every position, else None."""
    finite = torch.isfinite(values)
    if not bool(finite.all()) and bool(torch.isnan(values).any()):
        return None
    if bool((values[finite] <= EXACT).all()):
        lse = torch.logsumexp(values, dim=d)
        if bool(torch.isfinite(lse).all()) and float(lse.abs().max()) < EXACT:
            return "log-probabilities"
    if bool(finite.all()) and bool((values >= -EXACT).all()):
        if float((values.sum(d) - 1).abs().max()) < EXACT:
            return "probabilities"
    return None


def shift_response(grad: torch.Tensor, d: int) -> float:
    """At scores of our own (the outputs plus unit noise: fresh weights' nearly uniform outputs would make even a
    wrong normalisation look invariant along the classes), how much the loss changes when every score along `d`
    moves by the same amount (the gradient summed along `d`), relative to how much it changes when one score moves
    (the gradient's typical entry x the size of `d`): 0 for a loss that normalises along `d`."""
    scale = float(grad.abs().mean()) * grad.shape[d]
    if scale == 0.0:
        return 0.0
    return float(grad.sum(d).abs().mean()) / scale


def _finding(out: torch.Tensor, d: int, classes: int, kind: str, where: str) -> Diagnosis:
    shape = tuple(out.shape)
    if where == "outputs":
        what = (f"the model's outputs {shape} are {kind} along dim {d} (size {shape[d]}): they sum to 1 there at every "
                f"position, but not along dim {classes} (size {shape[classes]}), the classes the integer targets index")
        fix = (f"normalise over the classes: log_softmax(dim={classes}) (or -1 for the last), or return the raw "
               "logits and let cross_entropy normalise them")
    else:
        what = (f"the loss does not change when a constant is added to the outputs {shape} along dim {d} (size "
                f"{shape[d]}), but does along dim {classes} (size {shape[classes]}), the classes the integer targets "
                f"index: it normalises the scores over dim {d} (a log_softmax or softmax over the wrong dimension)")
        fix = (f"normalise over the classes: log_softmax(logits, dim={classes}) (or -1 for the last) before nll_loss, "
               "or cross_entropy on the raw logits with the classes where it expects them")
    return Diagnosis(
        "loss_mismatch", "error", f"{what}. The classes then compete across the other positions instead of within "
        "each one: the loss has a floor far above 0 and the predictions stay poor",
        evidence={"normalised_dim": d, "class_dim": classes, "shape": list(shape), "kind": kind, "in": where,
                  "before_update": True},
        fix=fix)
