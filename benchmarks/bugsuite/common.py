"""Pieces the four families share: the bug argument, a classifier Problem, evaluation in eval mode."""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from orchestrator.task import Problem

CLASSIFIER_METRICS = ("train/loss", "train/acc", "val/loss", "val/acc")


def check_bug(bug: str, known: tuple[str, ...], family: str) -> str:
    """One clear line for a misspelt bug name instead of a silently clean run."""
    if bug not in known:
        raise ValueError(f"{family}: unknown bug {bug!r}; known: {', '.join(known)}")
    return bug


@contextmanager
def evaluating(model: nn.Module):
    """Eval mode and no gradients for a measurement, the model's own mode restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def on_device_of(model: nn.Module, data):
    """`data` (a tensor or a dict of them) where the model's weights are: the engine moves each training batch,
    the task its own validation data (device=cuda)."""
    device = next(model.parameters()).device
    if isinstance(data, dict):
        return {k: v.to(device) for k, v in data.items()}
    return data.to(device)


def subset_size(knobs, available: int) -> int:
    return max(1, min(int(knobs.get("subset", available)), available))


def classifier_problem(model: nn.Module, x_train, y_train, x_val, y_val, classes: int,
                       loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None) -> Problem:
    """Cross-entropy classifier on in-memory tensors; `loss_fn(logits, y)` is where loss bugs go."""
    loss_fn = loss_fn or F.cross_entropy

    def get_batch(idx):
        return x_train[idx], y_train[idx]

    def loss(model, batch):
        x, y = batch
        return loss_fn(model(x), y)

    def evaluate(model):
        out = {}
        with evaluating(model):
            for split, x, y in (("train", x_train, y_train), ("val", x_val, y_val)):
                x, y = on_device_of(model, x), on_device_of(model, y)
                logits = model(x)
                out[f"{split}/loss"] = F.cross_entropy(logits, y).item()
                out[f"{split}/acc"] = (logits.argmax(-1) == y).float().mean().item()
        return out

    return Problem(model=model, train_size=len(x_train), get_batch=get_batch, loss=loss, evaluate=evaluate,
                   chance_loss=math.log(classes),
                   forward=lambda model, batch: model(batch[0]), targets=lambda batch: batch[1])


def sequence_metrics(split: str, logits: torch.Tensor, targets: torch.Tensor, ignore: int) -> dict:
    """Per-token loss and accuracy over the positions whose target is not `ignore`, and (val only) the share of
    sequences right at every such position."""
    real = targets != ignore
    right = (logits.argmax(-1) == targets) | ~real
    out = {f"{split}/loss": F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=ignore).item(),
           f"{split}/acc": (right & real).sum().item() / real.sum().item()}
    if split == "val":
        out["val/exact"] = right.all(1).float().mean().item()
    return out
