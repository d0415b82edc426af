"""The extension point: a Task builds a Problem for one setting of its difficulty knobs.

A user's own task is any object with these two members, named from YAML by `_target_`;
no engine class has to be subclassed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol

import numpy as np
import torch
from torch import nn

Batch = Any  # whatever `get_batch` returns and `loss` understands


def same_sequence(batch: Any, items: list) -> Any:
    """`items` in a sequence of `batch`'s own type (a tuple, a list, a namedtuple: its fields are positional)."""
    return type(batch)(*items) if hasattr(batch, "_fields") else type(batch)(items)


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
    # optional panels per evaluation, shown in TensorBoard: text (markdown) or a Picture
    samples: Callable[[nn.Module], dict[str, "str | Picture"]] | None = None
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
    # The run's closing sections (e.g. test-set translations, test images with boxes): title -> markdown
    # or a Picture, computed once with the last converged stage's weights (eval mode, no gradients) and
    # shown at the end of report.md, in TensorBoard and (text only) on the console.
    report_sections: Callable[[nn.Module], dict[str, "str | Picture"]] | None = None


@dataclass
class Picture:
    """An image for TensorBoard and the report, with optional boxes (TensorBoard draws them labelled)."""

    pixels: torch.Tensor                 # (3, H, W) float in [0, 1]
    boxes: torch.Tensor | None = None    # (k, 4) x_min, y_min, x_max, y_max in pixels
    labels: list[str] | None = None      # one per box

    def rendered(self) -> np.ndarray:
        """(H, W, 3) uint8 with the boxes drawn as 1-pixel red outlines (the report's PNG)."""
        image = (self.pixels.detach().float().clamp(0, 1).permute(1, 2, 0) * 255).round().byte().numpy().copy()
        h, w = image.shape[:2]
        for x0, y0, x1, y1 in ([] if self.boxes is None else self.boxes.round().long().tolist()):
            x0, x1 = max(0, min(x0, w - 1)), max(0, min(x1 - 1, w - 1))
            y0, y1 = max(0, min(y0, h - 1)), max(0, min(y1 - 1, h - 1))
            image[y0:y1 + 1, [x0, x1]] = image[[y0, y1], x0:x1 + 1] = (255, 0, 0)
        return image


class Task(Protocol):
    """What the orchestrator needs of a task."""

    metrics: tuple[str, ...]  # metric names `evaluate` returns (goals must name one of these)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        """The problem at this knob setting. Same knobs and seed, same problem."""
        ...
