"""The addition task: knobs `digits` (operand length) and `subset` (training examples) -> a Problem."""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F

from orchestrator.errors import ConfigError
from orchestrator.task import Problem

from .data import PAD, Level, decode, generate
from .model import AdditionSeq2Seq

METRICS = (
    "train/loss",          # logged by the engine from the batch losses
    "train/seq_acc",       # greedy answer exactly right, on (at most eval_examples of) the stage's training examples
    "val/loss",            # teacher-forced cross-entropy per answer token (EOS included)
    "val/seq_acc",         # greedy answer exactly right (every digit and the EOS), validation split
    "val/char_acc",        # share of answer tokens right
    "val/easier_seq_acc",  # seq_acc on every shorter operand length, averaged: forgetting, measured (validation
                           # splits; 1 digit: its training table, since held-out 1-digit sums cannot be inferred)
)


def loss_of(model, batch) -> torch.Tensor:
    src, tgt_in, tgt_out = batch
    logits = model(src, tgt_in)
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), tgt_out.reshape(-1), ignore_index=PAD)


@torch.no_grad()
def scores(model, level: Level, limit: int) -> dict[str, float]:
    """Loss, exact-answer and per-token accuracy of `model` on the first `limit` examples of a split."""
    device = next(model.parameters()).device
    src, tgt_in, tgt_out = (t[:limit].to(device) for t in level.take(slice(None)))
    if len(src) == 0:
        return {"loss": float("nan"), "seq_acc": float("nan"), "char_acc": float("nan")}
    pred = model.greedy(src, tgt_out.size(1))
    mask = tgt_out != PAD
    right = (pred == tgt_out) | ~mask
    return {"loss": float(loss_of(model, (src, tgt_in, tgt_out))),
            "seq_acc": float(right.all(dim=1).float().mean()),
            "char_acc": float(((pred == tgt_out) & mask).sum() / mask.sum())}


class AdditionTask:
    """"a+b" -> the sum, character by character, for operands of `digits` digits (1 .. max_digits).

    The knob `digits` must not exceed `max_digits`, the widths every level is encoded at.
    """

    metrics = METRICS

    def __init__(self, max_digits: int = 6, emb: int = 32, hidden: int = 128, layers: int = 1,
                 train_examples: int = 20000, valid_examples: int = 500, test_examples: int = 500,
                 eval_examples: int = 500, data_seed: int = 0):
        if not 1 <= max_digits <= 15:
            raise ConfigError(f"must be between 1 and 15, got {max_digits}", key="task.max_digits")
        self.max_digits = max_digits
        self.model_args = dict(emb=emb, hidden=hidden, layers=layers)
        self.sizes = {"train": train_examples, "valid": valid_examples, "test": test_examples}
        self.eval_examples, self.data_seed = eval_examples, data_seed
        self._levels: dict[int, dict[str, Level]] = {}

    def level(self, digits: int) -> dict[str, Level]:
        """Train, valid and test examples of one operand length (generated once, then kept)."""
        if digits not in self._levels:
            self._levels[digits] = generate(digits, self.sizes, self.max_digits, self.data_seed * 1000 + digits)
        return self._levels[digits]

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        digits = int(knobs.get("digits", self.max_digits))
        if not 1 <= digits <= self.max_digits:
            raise ConfigError(f"digits={digits} is outside 1 .. task.max_digits={self.max_digits}", key="knobs.digits")
        level = self.level(digits)
        train = level["train"]
        n = min(int(knobs.get("subset", len(train))), len(train))
        model = AdditionSeq2Seq(**self.model_args)
        limit = self.eval_examples

        def evaluate(model) -> dict[str, float]:
            val = scores(model, level["valid"], limit)
            fit = scores(model, Level(*(t[:n] for t in train.take(slice(None)))), limit)
            easier = [scores(model, self.level(d)["valid" if d > 1 else "train"],
                             max(1, limit // (digits - 1)))["seq_acc"] for d in range(1, digits)]
            out = {"train/seq_acc": fit["seq_acc"], "val/loss": val["loss"], "val/seq_acc": val["seq_acc"],
                   "val/char_acc": val["char_acc"]}
            if easier:  # 1 digit: nothing shorter to forget (left out rather than NaN, which reads as a fault)
                out["val/easier_seq_acc"] = sum(easier) / len(easier)
            return out

        def samples(model) -> dict[str, str]:
            src, _, tgt_out = (t[:4].to(next(model.parameters()).device) for t in level["valid"].take(slice(None)))
            pred = model.greedy(src, tgt_out.size(1))
            return {"answers": "\n".join(f"{decode(s)} = {decode(p)} (right: {decode(t)})  "
                                         for s, p, t in zip(src, pred, tgt_out))}

        def show_batch(batch) -> list[str]:
            return [f"{decode(s)} = {decode(t)}" for s, t in zip(batch[0], batch[2])]

        return Problem(model=model, train_size=n, get_batch=lambda idx: train.take(idx), loss=loss_of,
                       evaluate=evaluate, chance_loss=math.log(11), samples=samples,
                       forward=lambda model, batch: model(batch[0], batch[1]), targets=lambda batch: batch[2],
                       show_batch=show_batch, extras={"test": level["test"]})
