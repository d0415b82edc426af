"""Box arithmetic in a few lines of torch: IoU, non-maximum suppression, one-to-one matching.

Boxes are (x_min, y_min, x_max, y_max) in pixels, x_max > x_min. torchvision has these, but its CPU
wheels do not load next to this torch build, so they are written here and tested on hand-made boxes.
"""
from __future__ import annotations

import torch


def area(boxes: torch.Tensor) -> torch.Tensor:
    return (boxes[:, 2] - boxes[:, 0]).clamp(min=0) * (boxes[:, 3] - boxes[:, 1]).clamp(min=0)


def iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(len(a), len(b)) intersection over union of every pair."""
    lo = torch.maximum(a[:, None, :2], b[None, :, :2])
    hi = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (hi - lo).clamp(min=0).prod(-1)
    union = area(a)[:, None] + area(b)[None, :] - inter
    return inter / union.clamp(min=1e-9)


def nms(boxes: torch.Tensor, scores: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Indices of the boxes kept, best score first: each drops the lower-scored ones overlapping it by
    IoU > threshold."""
    order = scores.argsort(descending=True)
    overlaps = iou(boxes[order], boxes[order])
    keep, dropped = [], torch.zeros(len(order), dtype=torch.bool)
    for i in range(len(order)):
        if dropped[i]:
            continue
        keep.append(int(order[i]))
        dropped |= overlaps[i] > threshold
    return torch.tensor(keep, dtype=torch.long)


def matched_ious(predicted: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """The IoUs of a one-to-one matching, the most-overlapping pair first (pairs with IoU 0 stay apart)."""
    if len(predicted) == 0 or len(true) == 0:
        return torch.zeros(0)
    overlaps = iou(predicted, true)
    found = []
    for _ in range(min(overlaps.shape)):
        best = overlaps.max()
        if best <= 0:
            break
        i, j = divmod(int(overlaps.argmax()), overlaps.shape[1])
        found.append(best)
        overlaps[i, :] = -1
        overlaps[:, j] = -1
    return torch.stack(found) if found else torch.zeros(0)
