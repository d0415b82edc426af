"""Per-position targets one step ahead of what the model sees (code `labels_not_learnable`): a failure check.

A tagger or a sequence regressor whose targets were shifted like a language model's (`tags[1:] + [PAD]`, the next
hour's count, the balance after the next transaction) asks each position for what the next one holds. A causal model
(or a recurrent one reading left to right) cannot see it, so it learns the part that the past predicts and stalls; a
shuffled-label test does not tell this apart (the labels do follow from the inputs, one step late), nor does one
example (it is memorised). What shows it: fresh weights fit the same examples far better when each position is given
the previous position's target, which is what it can know (benchmarks/holdout47's repeats/tags_shifted,
holdout49's ledger/balance_one_step_late).

Measured on a failed stage whose batches hold one target per position (a (batch, positions) tensor of at least 4
positions, in the batch itself so that it can be replaced, beside an input over the same positions): fresh weights
trained `failure.label_iterations` (200) steps on up to `failure.label_examples` (256) of its examples with the
targets as they are, and with them moved one position on (`y[:, 1:] = y[:, :-1]`; the first position keeps its own,
or -100 for class ids); fires when the moved ones reach below `failure.shift_better` (0.5) x the loss of the real
ones, the real ones not memorised (above `failure.shift_unfit` (0.05) x their first loss), on at least 2 x
`failure.label_batch` (32) examples (a smaller stage is judged on the examples of the stage it builds up to, with
that problem's fresh weights: StageRun.wider), and only for a model that reads left to right (its outputs at the first
half of the positions do not move when the inputs at the second half change): a model that sees both sides reads a
target moved one on off its neighbour (a masked LM). Not for next-step prediction, whose inputs hold the targets one
position on (moved, the targets would be the inputs themselves).
"""
from __future__ import annotations

from typing import Optional

import torch

from ..diagnosis import Diagnosis
from .common import batch_targets, map_tensors, num, run_model, shifted_inputs, tensors_in
from .startchecks import take


def shifted_targets(ctx) -> Optional[Diagnosis]:
    from .failure import _late_best, _to, _train, spread
    from .readout import _replaced, _slots
    run, problem, c = ctx.run, ctx.problem, ctx.cfg
    if ctx.labels_named or ctx.lr_suspect or ctx.unfit:
        return None
    pool, whose = min(problem.train_size, c.label_examples), "the stage's"
    if pool < 2 * c.label_batch:
        # a few examples are memorised either way, and which one first says little (a pointer net's positions moved
        # one on fit 10 examples 3x faster by chance): judged on the examples of the stage it builds up to
        from .failure import wider_context
        ctx = wider_context(ctx)
        if ctx is None:
            return None
        run, problem, whose = ctx.run, ctx.problem, "the full task's"
        pool = min(problem.train_size, c.label_examples)
        if pool < 2 * c.label_batch:
            return None
    chosen = spread(problem.train_size, pool)[:pool]
    batch = _to(run, problem.get_batch(chosen))
    targets = batch_targets(problem, batch)
    where = _slots(batch, targets)
    if not where or not isinstance(targets, torch.Tensor) or targets.dim() != 2 or targets.shape[1] < 4:
        return None
    if shifted_inputs(batch, targets):
        return None  # next-step prediction (an LM's tokens, a series' past): moved one on, the targets are the inputs
    if not _along(batch, targets):
        return None  # one target per class (multi-label), not per position of the input
    few = torch.arange(min(pool, 16))
    if not _causal(problem, run.model, take(batch, few), batch_targets(problem, take(batch, few))):
        return None  # a model that sees later positions can read a moved target off its neighbour (a masked LM)
    moved = targets.clone()
    moved[:, 1:] = targets[:, :-1]
    if not targets.is_floating_point():
        moved[:, 0] = -100
    other = _replaced(batch, where, moved)
    real = _train(ctx, ctx.fresh_model(), lambda idx: take(batch, idx), c.label_iterations, pool)[0]
    late = _train(ctx, ctx.fresh_model(), lambda idx: take(other, idx), c.label_iterations, pool)[0]
    at_real, at_moved = _late_best(real), _late_best(late)
    if not (at_moved < c.shift_better * at_real and at_real > c.shift_unfit * abs(real[0])):
        return None
    return Diagnosis(
        "labels_not_learnable", "error",
        f"the targets are one position ahead of what the model can see: fresh weights trained on {pool} of {whose} "
        f"examples for {c.label_iterations} iterations reach a loss of {num(at_real)} with the targets as "
        f"they are, and {num(at_moved)} with each position given the previous position's target: each position is "
        "asked for the next one's (a language model's shift applied to a tagging or regression target)",
        evidence={"loss_as_given": num(at_real), "loss_moved_one_on": num(at_moved), "examples": pool,
                  "shifted_targets": True},
        fix="align the targets with the inputs: position t's target must be computable from the inputs up to t "
            "(drop the [1:] shift, or shift the inputs too)")


def _causal(problem, model, batch, targets: torch.Tensor) -> bool:
    """The outputs at the first half of the positions do not move when the inputs at the second half change (rolled
    over the examples), while later outputs do: the model reads left to right, as the check assumes."""
    half, along = targets.shape[1] // 2, _along(batch, targets)

    def changed(x):
        if not any(x is t for t in along):
            return x
        y = x.clone()
        y[:, half:] = x.roll(1, 0)[:, half:] if not x.is_floating_point() else x[:, half:] + x.std() + 1.0
        return y
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            a, b = run_model(problem, model, batch), run_model(problem, model, map_tensors(changed, batch))
    finally:
        model.train(was)
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape and a.dim() >= 2
            and a.shape[:2] == targets.shape[:2]):
        return False
    scale = float(a.abs().mean()) + 1e-12
    early = float((a[:, :half - 1] - b[:, :half - 1]).abs().max()) <= 1e-5 * scale
    late = float((a[:, half:] - b[:, half:]).abs().max()) > 1e-3 * scale
    return early and late


def _along(batch, targets: torch.Tensor) -> list:
    """The batch's other tensors over the same positions as the targets: (batch, positions, ...)."""
    return [t for t in tensors_in(batch) if t is not targets and t.dim() >= 2 and t.shape[:2] == targets.shape[:2]]
