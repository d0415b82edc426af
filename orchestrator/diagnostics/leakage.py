"""Too good to be true, judged at each evaluation (codes `leakage`, `trivial_labels`; once per stage).

- `leakage` (error), at the stage's start: the labels can be read off the inputs (answerkey.py), or a
  position's output moves when only later targets change (future.py).

- `leakage` (error): the validation loss (`leakage.metric`, default `val/loss`) is clearly below the
  best loss a correct model can reach, `Problem.best_loss` (e.g. a source's entropy rate):
  below `leakage.ratio` (0.9) x best_loss - `leakage.margin` (0.02). The model sees what it predicts:
  targets in the inputs, validation examples in the training set, a causal mask that lets a position see
  its future. A task without best_loss is not judged (it declared nothing to compare with).
- `leakage` (error): a held-out metric (`val/acc`, `valid_loss`, ...) equal to its training side (`train/acc`) at
  each of `leakage.same_evaluations` (4) evaluations or more, through at least 3 different values: two sets of
  examples do not score identically again and again; one set scored twice does (the validation split is the
  training split, or built from it).
- `trivial_labels` (warning): a validation accuracy (a metric with `val` in its name ending in `acc`)
  reaches `leakage.perfect` (0.999) while one class makes up at least `leakage.majority` (0.999) of
  the validation labels (`Problem.extras['y_val']`): predicting a constant scores that. Without
  y_val it is skipped (`check_skipped`, info).
"""
from __future__ import annotations

import math
from typing import Optional

import torch

from ..diagnosis import Diagnosis
from ..trainer import to_device
from .answerkey import answer_key
from .common import model_device, num, training_side
from .config import LeakageConfig
from .future import future_leak
from .inputs import data


class LeakageCheck:
    def __init__(self, c: LeakageConfig):
        self.c = c
        self.fired: set = set()
        self.pairs: dict = {}  # held-out metric -> its values while equal to its training side (None: they differed)

    def on_start(self, run) -> None:
        self.fired, self.pairs = set(), {}
        try:
            x, y = data(run.problem, self.c.key_samples)
        except Exception as e:  # noqa: BLE001 - a batch we cannot read: say so, training goes on
            run.diagnose(Diagnosis("check_skipped", "info", f"leakage (answer key): could not read a training "
                                   f"batch ({type(e).__name__}: {e})", evidence={"check": "answer_key"}))
            return
        found = answer_key(x, y, self.c)
        if found is None:
            found = sees_the_future(run.problem, run.model if run.model is not None else run.problem.model)
        if found is not None:
            self.fired.add("leakage")
            run.diagnose(found)

    def on_eval(self, run, metrics: dict) -> None:
        if "leakage" not in self.fired:
            self.leakage(run, metrics)
        if "leakage" not in self.fired:
            self.same_split(run, metrics)
        if "trivial_labels" not in self.fired:
            self.trivial(run, metrics)

    def leakage(self, run, metrics: dict) -> None:
        best, value = run.problem.best_loss, metrics.get(self.c.metric)
        if best is None or not isinstance(value, (int, float)) or not math.isfinite(value):
            return
        if value < self.c.ratio * best - self.c.margin:
            self.fired.add("leakage")
            run.diagnose(Diagnosis(
                "leakage", "error", f"{self.c.metric} {num(value)} is below the best loss a correct model can reach "
                f"({num(best)}, Problem.best_loss): the model sees what it predicts",
                evidence={"metric": self.c.metric, "value": num(value), "best_loss": num(best), "ratio": self.c.ratio,
                          "margin": self.c.margin},
                fix="look for targets among the inputs, validation examples in the training set, or a mask that "
                    "lets a position see the future"))

    def trivial(self, run, metrics: dict) -> None:
        accs = {k: v for k, v in metrics.items() if "val" in k and k.endswith("acc") and isinstance(v, (int, float))}
        perfect = {k: v for k, v in accs.items() if v >= self.c.perfect}
        if not perfect:
            return
        self.fired.add("trivial_labels")
        y = run.problem.extras.get("y_val")
        if not isinstance(y, torch.Tensor) or y.numel() == 0 or y.is_floating_point():
            run.diagnose(Diagnosis(
                "check_skipped", "info", f"trivial_labels: {', '.join(perfect)} is perfect, but the task gives no "
                "integer extras['y_val'] to tell whether its labels are trivially predictable",
                evidence={"check": "trivial_labels"}, fix="give the Problem extras['y_val'] (the validation labels)"))
            return
        _, counts = torch.unique(y.reshape(-1), return_counts=True)
        share = float(counts.max()) / y.numel()
        if share >= self.c.majority:
            metric = next(iter(perfect))
            run.diagnose(Diagnosis(
                "trivial_labels", "warning", f"{metric} is {num(perfect[metric])}, but "
                f"{share:.1%} of the {y.numel()} validation labels are one class: a constant prediction scores "
                "that", evidence={"metric": metric, "value": num(perfect[metric]), "majority_share": num(share),
                                  "classes": int(counts.numel()), "labels": int(y.numel())},
                fix="check how the labels are built (a constant, an off-by-one column, a filter that kept one class)"))

    def same_split(self, run, metrics: dict) -> None:
        """Each held-out metric with a training side, at every evaluation; a pair that ever differs is dropped."""
        for held, value in metrics.items():
            train = training_side(held)
            if train is None or (held in self.pairs and self.pairs[held] is None):
                continue
            a, b = metrics.get(train), value
            if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (a, b)):
                continue
            if abs(a - b) > 1e-6 * max(1.0, abs(b)):
                self.pairs[held] = None  # two splits: never judged again this stage
                continue
            series = self.pairs.setdefault(held, [])
            series.append(float(b))
            if len(series) >= self.c.same_evaluations and len(set(series)) >= 3:
                self.fired.add("leakage")
                run.diagnose(Diagnosis(
                    "leakage", "error", f"{held} equals {train} at each of the stage's {len(series)} evaluations "
                    f"({', '.join(str(num(v)) for v in series[-4:])}, ...): two sets of examples do not score the same "
                    "again and again, one set scored twice does: the validation examples are the training examples",
                    evidence={"metric": held, "training_side": train, "values": [num(v) for v in series],
                              "same_split": True},
                    fix="build the validation split from examples held out of training (check the split's "
                        "indices, and that evaluate() reads the validation tensors)"))
                return


def sees_the_future(problem, model) -> Optional[Diagnosis]:
    """future.future_leak on the first 16 training examples; `check_skipped` when the model cannot be called so."""
    try:
        batch = to_device(problem.get_batch(torch.arange(min(problem.train_size, 16))), str(model_device(model)))
        return future_leak(problem, model, batch)
    except Exception as e:  # noqa: BLE001 - a model we cannot call this way: say so, training goes on
        return Diagnosis("check_skipped", "info", f"leakage (future positions): {type(e).__name__}: {e}",
                         evidence={"check": "future"})
