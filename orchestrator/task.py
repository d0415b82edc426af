"""The extension point: a Task builds a Problem for one setting of its difficulty knobs.

A user's own task is any object with these two members, named from YAML by `_target_`;
no engine class has to be subclassed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol

import torch
from torch import nn

Batch = Any  # whatever `get_batch` returns and `loss` understands


@dataclass
class Problem:
    """Everything one stage trains on. Built fresh for each stage from its knob values."""

    model: nn.Module
    train_size: int                                  # number of training examples at this setting
    get_batch: Callable[[torch.Tensor], Batch]       # indices of training examples -> a batch
    loss: Callable[[nn.Module, Batch], torch.Tensor]  # (model, batch) -> scalar loss to minimise
    # model -> metrics, e.g. {"val/acc": 0.93}; called under torch.no_grad() in eval() mode: move your
    # validation data to the model's device (next(model.parameters()).device)
    evaluate: Callable[[nn.Module], dict[str, float]]
    chance_loss: float | None = None                 # loss of an uninformed guess, e.g. ln(classes)
    samples: Callable[[nn.Module], dict[str, str]] | None = None  # optional text panels per eval
    extras: dict[str, Any] = field(default_factory=dict)  # task-specific values for diagnostics
    # How the diagnostics run the model and find the targets. Optional: without them a batch is taken
    # as (inputs, ..., targets) or a dict with x/input(s)/src and y/target(s)/labels/tgt keys; a model
    # with several inputs (seq2seq: (src, tgt_in)) should give `forward`.
    forward: Callable[[nn.Module, Batch], torch.Tensor] | None = None  # (model, batch) -> outputs, batch first
    targets: Callable[[Batch], torch.Tensor] | None = None  # batch -> its targets, batch first
    best_loss: float | None = None  # the lowest loss a correct model can reach (e.g. the data's entropy
    #                                 rate); a validation loss clearly below it means leakage
    # Look at the data: a batch -> one readable line per example (e.g. the sentences behind token ids), or
    # its images (N x H x W or N x C x H x W). Optional; shown with the batch's shapes and ranges at each
    # stage start (TensorBoard; report.md has the text).
    show_batch: Callable[[Batch], list[str] | torch.Tensor] | None = None
    # Set by orchestrator.data.dataset_problem: training reads `dataset` through a seeded, resumable
    # DataLoader (with `collate` and `workers`); get_batch then collates the examples it is asked for
    dataset: Any = None
    collate: Callable[[list], Batch] | None = None
    workers: int = 0


class Task(Protocol):
    """What the orchestrator needs of a task."""

    metrics: tuple[str, ...]  # metric names `evaluate` returns (goals must name one of these)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        """The problem at this knob setting. Same knobs and seed, same problem."""
        ...
