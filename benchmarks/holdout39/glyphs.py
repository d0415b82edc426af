"""Held-out-39 family 2: a 2-D CNN naming the glyph drawn somewhere in a noisy 16x16 image (six classes).

A glyph, 7..9 pixels wide, drawn with strokes one pixel thick at a random place wholly inside the image: `plus`
(a horizontal and a vertical bar through the centre), `cross` (both diagonals), `square` (the outline), `ring` (the
pixels whose distance from the centre is within 0.6 of the radius), `equals` (two horizontal bars, 2..4 rows apart),
`corner` (an L: the left column and the bottom row). Stroke intensity U(0.7, 1.3) over a zero background, plus
N(0, 0.25²) noise. Torch seed 0 draws 3000 training and 600 validation images; the class names are turned into ids by
a label encoder fitted on the training names (sorted). Standardised with one scalar mean and std of the training
images. Training batches are augmented (torch's global generator): one random shift of -1..+1 pixels along each axis
per batch (a circular roll; the glyph keeps a blank border mostly) and a random gain U(0.8, 1.25) per image, both
label-preserving. Model: Conv2d(1, 16, 3, pad 1) - ReLU - max-pool 2 - Conv2d(16, 32, 3, pad 1) - ReLU - max-pool 2 -
Conv2d(32, 32, 3, pad 1) - ReLU - mean over the 4x4 positions - Linear(32, 6); cross-entropy; Adam at 0.003. Tuple
batches (image (B, 1, 16, 16) float, class (B,) long). Metrics: loss and accuracy on the stage's first 500 images and on
validation; extras y_val. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "roll_along_batch", "val_label_encoder_refit", "loss_on_argmax", "stem_under_no_grad",
        "conv_init_std_1")
NAMES = ("plus", "cross", "square", "ring", "equals", "corner")
S = 16
N_TRAIN, N_VAL = 3000, 600


def glyph(name: str, w: int, g: torch.Generator) -> torch.Tensor:
    m = torch.zeros(w, w)
    c = (w - 1) / 2
    if name == "plus":
        m[w // 2, :], m[:, w // 2] = 1, 1
    elif name == "cross":
        i = torch.arange(w)
        m[i, i], m[i, w - 1 - i] = 1, 1
    elif name == "square":
        m[0, :], m[-1, :], m[:, 0], m[:, -1] = 1, 1, 1, 1
    elif name == "ring":
        yy, xx = torch.meshgrid(torch.arange(w) - c, torch.arange(w) - c, indexing="ij")
        m[((yy ** 2 + xx ** 2).sqrt() - c).abs() <= 0.6] = 1
    elif name == "equals":
        gap = int(torch.randint(2, 5, (1,), generator=g))
        top = (w - gap - 1) // 2
        m[top, :], m[top + gap + 1 if top + gap + 1 < w else w - 1, :] = 1, 1
    else:  # corner
        m[:, 0], m[-1, :] = 1, 1
    return m


def draw(n: int, g: torch.Generator) -> tuple[torch.Tensor, list[str]]:
    x, names = torch.zeros(n, 1, S, S), []
    for i in range(n):
        name = NAMES[int(torch.randint(0, len(NAMES), (1,), generator=g))]
        w = int(torch.randint(7, 10, (1,), generator=g))
        r, c = (int(torch.randint(0, S - w + 1, (1,), generator=g)) for _ in range(2))
        amp = 0.7 + 0.6 * float(torch.rand(1, generator=g))
        x[i, 0, r:r + w, c:c + w] = amp * glyph(name, w, g)
        names.append(name)
    return x + 0.25 * torch.randn(x.shape, generator=g), names


class GlyphCNN(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.conv1, self.conv2 = nn.Conv2d(1, 16, 3, padding=1), nn.Conv2d(16, 32, 3, padding=1)
        self.conv3, self.head = nn.Conv2d(32, 32, 3, padding=1), nn.Linear(32, len(NAMES))
        if bug == "conv_init_std_1":
            [nn.init.normal_(c.weight, std=1.0) for c in (self.conv1, self.conv2, self.conv3)]  # BUG conv_init_std_1

    def forward(self, x):  # (B, 1, 16, 16) -> (B, 6) logits
        if self.bug == "stem_under_no_grad":
            with torch.no_grad():  # BUG stem_under_no_grad: the first convolution run without gradients
                h = F.max_pool2d(F.relu(self.conv1(x)), 2)
        else:
            h = F.max_pool2d(F.relu(self.conv1(x)), 2)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)
        return self.head(F.relu(self.conv3(h)).mean((2, 3)))


class GlyphsTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "glyphs")
        g = torch.Generator().manual_seed(0)
        x_tr, names_tr = draw(N_TRAIN, g)
        x_va, names_va = draw(N_VAL, g)
        encoder = {name: i for i, name in enumerate(sorted(set(names_tr)))}
        val_encoder = encoder
        if self.bug == "val_label_encoder_refit":
            val_encoder = {name: i for i, name in enumerate(dict.fromkeys(names_va))}  # BUG val_label_encoder_refit
        mu, sd = x_tr.mean(), x_tr.std()
        self.x_train, self.x_val = (x_tr - mu) / sd, (x_va - mu) / sd
        self.y_train = torch.tensor([encoder[s] for s in names_tr])
        self.y_val = torch.tensor([val_encoder[s] for s in names_va])

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = GlyphCNN(self.bug)

        def get_batch(idx):
            dy, dx = (int(v) for v in torch.randint(-1, 2, (2,)))
            dims = (0, 3) if self.bug == "roll_along_batch" else (2, 3)  # BUG roll_along_batch: dims (0, 3), not (2, 3)
            xb = torch.roll(x[idx], shifts=(dy, dx), dims=dims)
            return xb * (0.8 + 0.45 * torch.rand(len(idx), 1, 1, 1)), y[idx]

        def loss(model, b):
            logits = model(b[0])
            if self.bug == "loss_on_argmax":
                return F.mse_loss(logits.argmax(-1).float(), b[1].float())  # BUG loss_on_argmax: no gradient
            return F.cross_entropy(logits, b[1])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:500], y[:500]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    logits = model(xs)
                    out[f"{split}/loss"] = F.cross_entropy(logits, ys).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=get_batch, loss=loss, evaluate=evaluate,
                       chance_loss=math.log(len(NAMES)), extras={"y_val": self.y_val},
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
