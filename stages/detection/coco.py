"""Mean average precision at IoU 0.5, by pycocotools' COCOeval (the reference implementation).

The adapter only writes the boxes as COCO-format dicts (x, y, width, height) and asks COCOeval for
one IoU threshold, every object size and up to 100 detections per image.
"""
from __future__ import annotations

import contextlib
import io

import numpy as np
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def _xywh(box) -> list[float]:
    x0, y0, x1, y1 = (float(v) for v in box)
    return [x0, y0, x1 - x0, y1 - y0]


def map50(true_boxes: list[torch.Tensor], true_labels: list[torch.Tensor], pred_boxes: list[torch.Tensor],
          pred_labels: list[torch.Tensor], pred_scores: list[torch.Tensor], classes: int) -> float:
    """COCO-style AP at IoU 0.5 (101-point interpolation), averaged over the classes that have objects.

    No true box at all: 1.0 when nothing was detected either, else 0.0 (COCOeval has no answer there).
    """
    annotations, detections = [], []
    for image, (boxes, labels) in enumerate(zip(true_boxes, true_labels)):
        for box, label in zip(boxes.tolist(), labels.tolist()):
            x, y, w, h = _xywh(box)
            annotations.append({"id": len(annotations) + 1, "image_id": image, "category_id": int(label),
                                "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})
    for image, (boxes, labels, scores) in enumerate(zip(pred_boxes, pred_labels, pred_scores)):
        for box, label, score in zip(boxes.tolist(), labels.tolist(), scores.tolist()):
            detections.append({"image_id": image, "category_id": int(label), "bbox": _xywh(box),
                               "score": float(score)})
    if not annotations:
        return 0.0 if detections else 1.0
    quiet = contextlib.redirect_stdout(io.StringIO())  # pycocotools prints its progress
    with quiet:
        truth = COCO()
        truth.dataset = {"images": [{"id": i} for i in range(len(true_boxes))], "annotations": annotations,
                         "categories": [{"id": c} for c in range(classes)]}
        truth.createIndex()
        found = truth.loadRes(detections) if detections else COCO()
        if not detections:
            return 0.0
        ev = COCOeval(truth, found, iouType="bbox")
        ev.params.iouThrs = np.array([0.5])
        ev.params.areaRng, ev.params.areaRngLbl = [[0, 1e10]], ["all"]
        ev.params.maxDets = [100]
        ev.evaluate()
        ev.accumulate()
    precision = ev.eval["precision"][0, :, :, 0, -1]  # (recall points, classes)
    per_class = [precision[:, k].mean() for k in range(precision.shape[1]) if (precision[:, k] > -1).all()]
    return float(np.mean(per_class)) if per_class else 0.0
