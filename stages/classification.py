"""Shared pieces for classification tasks on in-memory tensors."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from orchestrator.task import Problem


def tensor_problem(model: nn.Module, x_train: torch.Tensor, y_train: torch.Tensor,
                   x_val: torch.Tensor, y_val: torch.Tensor, classes: int) -> Problem:
    """A Problem for a classifier: cross-entropy loss, accuracy and loss on both splits."""

    def get_batch(idx):
        return x_train[idx], y_train[idx]

    def loss(model, batch):
        x, y = batch
        return F.cross_entropy(model(x), y)

    def evaluate(model):
        device = next(model.parameters()).device
        metrics = {}
        for split, x, y in (("train", x_train, y_train), ("val", x_val, y_val)):
            logits = model(x.to(device))
            metrics[f"{split}/acc"] = (logits.argmax(-1) == y.to(device)).float().mean().item()
            if split == "val":
                metrics["val/loss"] = F.cross_entropy(logits, y.to(device)).item()
        return metrics

    return Problem(model=model, train_size=len(x_train), get_batch=get_batch, loss=loss,
                   evaluate=evaluate, chance_loss=math.log(classes),
                   extras={"x_train": x_train, "y_train": y_train, "y_val": y_val, "classes": classes})


CLASSIFICATION_METRICS = ("train/loss", "train/acc", "val/acc", "val/loss")
