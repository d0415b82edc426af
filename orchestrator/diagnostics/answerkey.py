"""The label written into the inputs (code `leakage`, error; judged at each stage's start).

A model that is handed the answer converges and looks healthy, so this is judged on the data alone,
without any best loss to compare with. The signature of a label copied into the inputs (a one-hot
column, the class id as a feature, a marker pixel) is an *answer key*: an input feature that takes
one exact value on every example of a class and never takes that value on an example of another
class. Real features vary within a class, or are shared between classes: a border pixel that is 0
everywhere is no key, and a feature that only separates classes by a threshold is no key either
(that is a task, not a leak).

It looks at up to `leakage.key_samples` training examples of single-label classification (integer
targets, one per example); a class counts when it has at least `leakage.key_per_class` examples
there. It fires when at least `leakage.key_classes` classes count and every one of them has a key.
"""
from __future__ import annotations

from typing import Optional

import torch

from ..diagnosis import Diagnosis
from .config import LeakageConfig


def answer_key(x: Optional[torch.Tensor], y: Optional[torch.Tensor], c: LeakageConfig) -> Optional[Diagnosis]:
    if not _single_labels(x, y):
        return None
    x = x[:c.key_samples].detach().reshape(min(len(x), c.key_samples), -1).float()
    y = y[:c.key_samples].detach().reshape(-1)
    classes, counts = torch.unique(y, return_counts=True)
    counted = classes[counts >= c.key_per_class]
    if len(counted) < max(c.key_classes, 2):
        return None
    keys = {}
    for cls in counted.tolist():
        mine, others = x[y == cls], x[y != cls]
        value = mine[0]
        constant = (mine == value).all(0)                    # one exact value on every example of the class
        unused = ~(others == value).any(0)                   # ... that no example of another class takes
        found = torch.nonzero(constant & unused).flatten()
        if not len(found):
            return None  # a class without a key: the labels are not simply written into the inputs
        keys[cls] = (int(found[0]), float(value[found[0]]))
    shown = ", ".join(f"class {k}: feature {f} = {v:g}" for k, (f, v) in list(keys.items())[:4])
    return Diagnosis(
        "leakage", "error", f"the labels can be read off the inputs: each of the {len(keys)} classes has an input "
        f"feature with one exact value on all its examples that no other class has ({shown}"
        f"{', ...' if len(keys) > 4 else ''})",
        evidence={"check": "answer_key", "classes": len(keys), "examples": int(len(y)),
                  "features": int(x.shape[1]), "keys": {str(k): f for k, (f, _) in list(keys.items())[:10]}},
        fix="look for the target among the inputs (a one-hot label or class id appended as a feature, a column "
            "index off by one, a marker drawn into the images)")


def _single_labels(x, y) -> bool:
    return (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor) and x.dim() >= 1 and y.dim() == 1
            and not y.is_floating_point() and not y.is_complex() and y.dtype != torch.bool
            and x.shape[0] == y.shape[0] and x[0].numel() > 0)
