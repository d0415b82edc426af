"""One network for every stage: a small CNN backbone, a counting head and a detection head.

The backbone turns an (N, C, S, S) image into an (S/8 x S/8) grid of features. The counting head
pools the grid and classifies the number of objects (0..max_objects). The detection head is a
regression network in the YOLO style: each grid cell predicts whether an object's centre lies in it
(objectness), where in the cell (sigmoid offsets), its size (log of width and height in cells) and its
class. Both heads exist at every knob setting, so every stage warm-starts every tensor; a stage
trains only the head its variant uses (the other keeps what earlier stages taught it).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .boxes import nms

STRIDE = 8  # pixels per grid cell: the backbone halves the image three times


def conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.BatchNorm2d(cout), nn.ReLU())


class Detector(nn.Module):
    def __init__(self, channels: int = 1, width: int = 32, classes: int = 3, max_objects: int = 4):
        super().__init__()
        w = width
        self.backbone = nn.Sequential(conv(channels, w // 2), conv(w // 2, w, 2), conv(w, w),
                                      conv(w, 2 * w, 2), conv(2 * w, 2 * w, 2), conv(2 * w, 2 * w))
        # linear on pooled features: the mean of per-object features is linear in their number, and a
        # softmax over lines in one number picks out each interval of it
        self.count_head = nn.Linear(4 * w, max_objects + 1)
        self.detect_head = nn.Sequential(conv(2 * w, 2 * w), nn.Conv2d(2 * w, 5 + classes, 1))
        self.classes = classes

    def forward(self, x: torch.Tensor, heads: tuple[str, ...] = ("count", "grid")) -> dict[str, torch.Tensor]:
        """The outputs of the heads asked for: a stage runs only the heads its loss uses, so the others are
        neither computed nor mistaken for parameters that should have received a gradient."""
        features = self.backbone(x)
        out = {}
        if "count" in heads:
            # mean and max pooled: the mean of per-object features grows with their number, the max says "any"
            out["count"] = self.count_head(torch.cat([features.mean((2, 3)), features.amax((2, 3))], 1))
        if "grid" in heads:
            out["grid"] = self.detect_head(features)
        return out


def grid_targets(boxes: list[torch.Tensor], labels: list[torch.Tensor], cells: int):
    """Per image and cell: objectness (0/1), the box as (x offset, y offset, log w, log h) in cells, class."""
    n = len(boxes)
    obj = torch.zeros(n, cells, cells)
    box = torch.zeros(n, 4, cells, cells)
    cls = torch.zeros(n, cells, cells, dtype=torch.long)
    for i, (b, lab) in enumerate(zip(boxes, labels)):
        if len(b) == 0:
            continue
        cx, cy = (b[:, 0] + b[:, 2]) / 2 / STRIDE, (b[:, 1] + b[:, 3]) / 2 / STRIDE
        gx, gy = cx.long().clamp(0, cells - 1), cy.long().clamp(0, cells - 1)
        obj[i, gy, gx] = 1.0
        box[i, :, gy, gx] = torch.stack([cx - gx, cy - gy, ((b[:, 2] - b[:, 0]) / STRIDE).log(),
                                         ((b[:, 3] - b[:, 1]) / STRIDE).log()])
        cls[i, gy, gx] = lab
    return obj, box, cls


def detection_loss(grid: torch.Tensor, obj: torch.Tensor, box: torch.Tensor, cls: torch.Tensor) -> torch.Tensor:
    """Objectness cross-entropy on every cell; box L1 and class cross-entropy on the cells holding a centre.

    Summed over an image's cells, so its few object cells are not drowned by its many empty ones, then
    divided by the cells per image (which keeps the first loss near ln 2 and the first gradients small
    next to the weights; Adam's steps do not depend on the scale); the box term is weighted 5x, as it
    matters most to the IoU.
    """
    n = grid.shape[0] * grid.shape[2] * grid.shape[3]
    positive = obj > 0.5
    loss = F.binary_cross_entropy_with_logits(grid[:, 0], obj, reduction="sum") / n
    if positive.any():
        pred = torch.cat([grid[:, 1:3].sigmoid(), grid[:, 3:5]], 1).permute(0, 2, 3, 1)[positive]
        loss = loss + 5 * F.l1_loss(pred, box.permute(0, 2, 3, 1)[positive], reduction="sum") / n
        loss = loss + F.cross_entropy(grid[:, 5:].permute(0, 2, 3, 1)[positive], cls[positive], reduction="sum") / n
    return loss


def decode(grid: torch.Tensor, min_score: float = 0.05, overlap: float = 0.5, max_boxes: int = 100):
    """Per image: boxes (k, 4) in pixels, labels (k,), scores (k,), after non-maximum suppression."""
    n, _, cells, _ = grid.shape
    ys, xs = torch.meshgrid(torch.arange(cells, device=grid.device), torch.arange(cells, device=grid.device),
                            indexing="ij")
    scores = grid[:, 0].sigmoid()
    cx = (xs + grid[:, 1].sigmoid()) * STRIDE
    cy = (ys + grid[:, 2].sigmoid()) * STRIDE
    w, h = grid[:, 3].clamp(max=6).exp() * STRIDE, grid[:, 4].clamp(max=6).exp() * STRIDE
    all_boxes = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1).reshape(n, -1, 4).cpu()
    all_labels = grid[:, 5:].argmax(1).reshape(n, -1).cpu()
    scores = scores.reshape(n, -1).cpu()
    out = []
    for i in range(n):
        keep = (scores[i] >= min_score).nonzero().flatten()
        kept = keep[nms(all_boxes[i][keep], scores[i][keep], overlap)][:max_boxes]
        out.append((all_boxes[i][kept], all_labels[i][kept], scores[i][kept]))
    return out
