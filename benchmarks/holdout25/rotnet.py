"""Held-out-25 family 2: a CNN predicting by how much a handwritten digit was rotated (RotNet, Gidaris et al. 2018).

scikit-learn's 8x8 digits (1797 images, 0..16), scaled to [0, 1] and standardised with the training images' mean
and std; torch seed 0 splits them into 1400 training and 397 validation images, and draws each image's rotation k
in {0, 1, 2, 3} (k quarter turns counter-clockwise, `torch.rot90(img, k, dims=(-2, -1))`), fixed per image; the
class is k. Model: two weight-standardised 3x3 convolutions written out (Qiao et al. 2019, scaled as in Brock et al.
2021: each filter's weights centred and divided by their std times sqrt(fan-in)), 1 -> 16 - ReLU, 16 -> 32 - ReLU -
max-pool 2, flatten (512) - Linear(512, 64) - ReLU - Linear(64, 4). Cross-entropy; Adam at 0.003. Tuple batches
(images (B, 1, 8, 8), class (B,)). Metrics: loss and accuracy on the stage's images (at most 500) and on validation.
Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "val_rotated_other_way", "labels_drawn_twice", "ws_std_over_in_channels", "convs_in_plain_list")
N_TRAIN = 1400


class WSConv2d(nn.Conv2d):
    def __init__(self, cin: int, cout: int, bug: str):
        super().__init__(cin, cout, 3, padding=1)
        self.bug = bug

    def forward(self, x):
        w = self.weight
        fan_in = w[0].numel()
        if self.bug == "ws_std_over_in_channels":
            std = w.std(dim=1, keepdim=True)  # BUG ws_std_over_in_channels: the std over the input channels only
        else:
            std = w.std(dim=(1, 2, 3), keepdim=True)
        w = (w - w.mean(dim=(1, 2, 3), keepdim=True)) / (std * math.sqrt(fan_in) + 1e-6)
        return F.conv2d(x, w, self.bias, padding=1)


class RotNet(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        if bug == "convs_in_plain_list":
            self.convs = [WSConv2d(1, 16, bug), WSConv2d(16, 32, bug)]  # BUG convs_in_plain_list: a plain list
        else:
            self.convs = nn.ModuleList([WSConv2d(1, 16, bug), WSConv2d(16, 32, bug)])
        self.fc = nn.Linear(32 * 4 * 4, 64)
        self.head = nn.Linear(64, 4)

    def forward(self, x):  # (B, 1, 8, 8) -> (B, 4) logits
        h = F.relu(self.convs[0](x))
        h = F.max_pool2d(F.relu(self.convs[1](h)), 2)
        return self.head(F.relu(self.fc(h.flatten(1))))


def rotated(images: torch.Tensor, k: torch.Tensor, dims=(-2, -1)) -> torch.Tensor:
    return torch.stack([torch.rot90(img, int(q), dims=dims) for img, q in zip(images, k)])


class RotNetTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "rotnet")
        digits = load_digits()
        images = torch.tensor(digits.images, dtype=torch.float32)[:, None] / 16
        g = torch.Generator().manual_seed(0)
        order = torch.randperm(len(images), generator=g)
        images = images[order]
        k = torch.randint(0, 4, (len(images),), generator=g)
        train, val = images[:N_TRAIN], images[N_TRAIN:]
        mean, std = train.mean(), train.std()
        train, val = (train - mean) / std, (val - mean) / std
        self.x_train = rotated(train, k[:N_TRAIN])
        if self.bug == "val_rotated_other_way":
            self.x_val = rotated(val, k[N_TRAIN:], dims=(-1, -2))  # noqa: E501  BUG val_rotated_other_way: the validation images turned clockwise
        else:
            self.x_val = rotated(val, k[N_TRAIN:])
        self.y_train, self.y_val = k[:N_TRAIN], k[N_TRAIN:]
        if self.bug == "labels_drawn_twice":
            self.y_train = torch.randint(0, 4, (N_TRAIN,), generator=g)  # noqa: E501  BUG labels_drawn_twice: the training labels drawn again instead of reusing k

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = RotNet(self.bug)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:500], y[:500]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    logits = model(xs)
                    out[f"{split}/loss"] = F.cross_entropy(logits, ys).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (x[idx], y[idx]),
                       loss=lambda model, b: F.cross_entropy(model(b[0]), b[1]), evaluate=evaluate,
                       chance_loss=math.log(4), forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
