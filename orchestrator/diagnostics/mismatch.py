"""The loss the optimiser minimises against the task's own training measure (code `loss_mismatch`).

A loss and the metrics a task reports for the training split measure the same thing: when the loss falls,
`train/loss` falls and `train/acc` rises. When the loss the optimiser sees falls to half its start while every
training-side measure of the task's evaluate() (`train/...` metrics with `loss` or `acc` in their name) stays
where it was (or, when the loss fell 100x or more, falls by less than a fifth of its fall on a log scale), the
two measure different things: a loss over the wrong dimension that happens to fit the
shapes (`cross_entropy` on (batch, time, vocab) logits with time == vocab reads classes along time), or a loss
fed other targets than the metrics. Read from the windows StepStats reads anyway and from the evaluations;
judged after a failure (failure.loss_mismatch).
"""
from __future__ import annotations

import math
from collections import deque

LOSSY, SCORES = ("loss", "nll", "perplexity", "ppl"), ("acc", "match", "f1")


def training_measure(key: str):
    """'min' for a training-side loss, 'max' for a training-side score, None for anything else."""
    head = key.lower()
    if not (head.startswith("train/") or head.startswith("train_")):
        return None
    if any(w in head for w in LOSSY):
        return "min"
    if any(w in head for w in SCORES):
        return "max"
    return None


class LossAndMeasure:
    """A StepStats consumer: the stage's last 50 finite losses, the 10 before its first evaluation, and its first
    and last training-side measures. Both starts are taken at the first evaluation, so that the loss and the
    measures are compared over the same stretch of training: a warm-started stage's first steps on new examples
    (loss 1.85) fall to 0.17 before the first evaluation, and a too-high LR then worsens both; against the first
    steps, the loss seemed to halve while the measures got worse (holdout19's datefmt/lr_2)."""

    def __init__(self):
        self.on_start(None, None)

    def on_start(self, run, stats) -> None:
        self.first, self.recent = [], deque(maxlen=50)
        self.start_measures, self.measures, self.evaluations = None, {}, 0
        self.curve = []  # the mean finite loss of each window read: the stage's training curve (failure.loss_climbed)

    def state_dict(self) -> dict:
        return {"first": list(self.first), "recent": list(self.recent), "start_measures": self.start_measures,
                "measures": dict(self.measures), "evaluations": self.evaluations, "curve": list(self.curve)}

    def load_state_dict(self, state: dict) -> None:
        self.first, self.recent = list(state["first"]), deque(state["recent"], maxlen=50)
        self.start_measures, self.measures = state["start_measures"], dict(state["measures"])
        self.evaluations = state["evaluations"]
        self.curve = list(state.get("curve", []))

    def on_window(self, run, stats, first_iteration: int, losses: list, norms: list) -> None:
        finite = [v for v in losses if math.isfinite(v)]
        self.recent.extend(finite)
        if finite:
            self.curve.append((first_iteration + len(losses) - 1, sum(finite) / len(finite)))

    def on_eval(self, run, stats, metrics: dict) -> None:
        measures = {k: float(v) for k, v in metrics.items() if training_measure(k)
                    and isinstance(v, (int, float)) and math.isfinite(v)}
        if self.start_measures is None:
            # (StepStats reads its window at every evaluation, before the monitors' on_eval: `recent` is current)
            self.start_measures, self.first = measures, list(self.recent)[-10:]
        self.measures = measures
        self.evaluations += 1

    def verdict(self, fall: float, min_evaluations: int):
        """(loss at start, loss now, {measure: (start, now)}) when the loss fell to `fall` x its start and no
        training-side measure with room to move did; else None."""
        if self.evaluations < min_evaluations or len(self.first) < 10 or len(self.recent) < 10 \
                or not self.start_measures:
            return None
        start, now = sum(self.first) / len(self.first), sum(self.recent) / len(self.recent)
        if not (start > 0 and now <= fall * start):
            return None
        # a loss that fell 100x or more: a measure of the same thing falls with it, by a fair share of the way on a
        # log scale; one that crept 13% down while the loss fell 10^4x measures something else (a forecaster
        # trained to copy its input: a persistence forecast is a little better than fresh weights on the real task)
        # (not for a loss that went below 0, a Gaussian likelihood's: its fall has no scale to share)
        deep = 0 < now <= 0.01 * start
        share = math.exp(0.2 * math.log(now / start)) if deep else 0.95  # the measure's fall that counts as moving
        flat, moved, worse = {}, False, False
        for key, before in self.start_measures.items():
            after = self.measures.get(key)
            if after is None:
                continue
            if training_measure(key) == "max":
                if before >= 0.98:  # already at the top: no room to show anything
                    continue
                moved = moved or after > before + 0.02
            else:
                if before <= 0:
                    continue
                moved = moved or after < share * before
                # the task's own training loss clearly rising while the optimised one halves: a score that crept up
                # by chance (0.09 -> 0.13, the loss read along time) does not make them agree. Rising at all (10%)
                # while the optimised one fell 100x: the optimised loss skips what the measure counts, whatever the
                # scores did (a cross-entropy whose ignore_index is EOS, not PAD: train/acc stuck at 0.857, the task's
                # train/loss 1.62 -> 1.84 while the optimised loss went to ~0; holdout25's caesar)
                worse = worse or after > (1.1 if deep else 1.25) * before
            flat[key] = (before, after)
        return (start, now, flat) if flat and (worse or not moved) else None

    def memorised_unmet(self, min_evaluations: int):
        """(loss now, the accuracy it allows, {score: value}) when the optimised loss is memorised (its last steps'
        mean at most `MEMORISED` and 0.01 x its start) while a training-side accuracy stays clearly below what that
        loss allows: a cross-entropy of L per scored position leaves at most L / ln 2 of them wrong (a wrong one costs
        ln 2 or more), so an accuracy below 1 - L / ln 2 - `SHORT` counts positions or targets the loss never sees
        (holdout43's swappairs: the first answer letter left unlabelled, loss 0.0014 and train/acc stuck at 0.867);
        else None."""
        if self.evaluations < min_evaluations or len(self.first) < 10 or len(self.recent) < 10:
            return None
        start, now = sum(self.first) / len(self.first), sum(self.recent) / len(self.recent)
        if not (start > 0 and 0 <= now <= MEMORISED and now <= 0.01 * start):
            return None
        allowed = 1 - now / math.log(2)
        short = {k: v for k, v in self.measures.items()
                 if training_measure(k) == "max" and "acc" in k.lower() and 0 <= v < allowed - SHORT}
        return (now, allowed, short) if short else None


MEMORISED = 0.05  # memorised_unmet: an optimised loss at most this (and 0.01 x its start) ...
SHORT = 0.05      # ... and a training accuracy this far below the 1 - loss / ln 2 it allows
