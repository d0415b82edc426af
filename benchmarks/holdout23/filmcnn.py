"""Held-out-23 family 2: a FiLM-conditioned CNN answering "how many squares of colour c?" about a generated image.

Each 20x20 RGB image holds 0..3 squares (2x2) of each of 4 colours (red, green, blue, yellow), one square per cell
of a 5x5 grid of 4-pixel cells at a random offset, plus pixel noise 0.05; the image is standardised per channel with
the training images' statistics. The question is a colour id c (0..3); the answer the number of squares of colour c
(4 classes). Torch seed 0: 3000 training, 400 validation images. Tuple batches (images (B, 3, 20, 20), questions
(B,), answers (B,)). Model: a question embedding (16) and per block a FiLM generator Linear(16, 2 x channels)
giving gamma and beta; conv 3 -> 32 (3x3), FiLM h (1 + gamma) + beta, ReLU; conv 32 -> 32, FiLM, ReLU; global
average pool; Linear(32, 64) - ReLU - Linear(64, 4). Loss: cross-entropy. Adam at 0.003. Metrics: loss and accuracy
(train on the first 400, val). Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "film_generators_in_list", "val_channels_bgr", "questions_permuted_in_train")
COLOURS = torch.tensor([[1., 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]])
SIZE, CELL, SQ, C, QD = 20, 4, 2, 32, 16
N_TRAIN, N_VAL = 3000, 400


def draw(n: int, g: torch.Generator):
    imgs = torch.zeros(n, 3, SIZE, SIZE)
    counts = torch.randint(0, 4, (n, 4), generator=g)
    for i in range(n):
        cells = torch.randperm((SIZE // CELL) ** 2, generator=g)
        k = 0
        for c in range(4):
            for _ in range(int(counts[i, c])):
                cy, cx = divmod(int(cells[k]), SIZE // CELL)
                k += 1
                oy, ox = torch.randint(0, CELL - SQ + 1, (2,), generator=g).tolist()
                y0, x0 = cy * CELL + oy, cx * CELL + ox
                imgs[i, :, y0:y0 + SQ, x0:x0 + SQ] = COLOURS[c][:, None, None]
    imgs += 0.05 * torch.randn(imgs.shape, generator=g)
    q = torch.randint(0, 4, (n,), generator=g)
    return imgs, q, counts[torch.arange(n), q]


class FiLMCNN(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.q_emb = nn.Embedding(4, QD)
        self.conv1, self.conv2 = nn.Conv2d(3, C, 3, padding=1), nn.Conv2d(C, C, 3, padding=1)
        if bug == "film_generators_in_list":
            self.film = [nn.Linear(QD, 2 * C), nn.Linear(QD, 2 * C)]  # BUG film_generators_in_list: a plain list, not nn.ModuleList
        else:
            self.film = nn.ModuleList([nn.Linear(QD, 2 * C), nn.Linear(QD, 2 * C)])
        self.head = nn.Sequential(nn.Linear(C, 64), nn.ReLU(), nn.Linear(64, 4))

    def forward(self, x, q):  # (B, 3, H, W), (B,) -> (B, 4)
        e = self.q_emb(q)
        h = x
        for conv, film in zip((self.conv1, self.conv2), self.film):
            gamma, beta = film(e).chunk(2, -1)
            h = F.relu(conv(h) * (1 + gamma[:, :, None, None]) + beta[:, :, None, None])
        return self.head(h.mean((2, 3)))


class FiLMTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "filmcnn")
        g = torch.Generator().manual_seed(0)
        self.x_train, self.q_train, self.y_train = draw(N_TRAIN, g)
        self.x_val, self.q_val, self.y_val = draw(N_VAL, g)
        if self.bug == "val_channels_bgr":
            self.x_val = self.x_val.flip(1)  # BUG val_channels_bgr: the validation images loaded as BGR
        mean, std = self.x_train.mean((0, 2, 3), keepdim=True), self.x_train.std((0, 2, 3), keepdim=True)
        self.x_train, self.x_val = (self.x_train - mean) / std, (self.x_val - mean) / std
        if self.bug == "questions_permuted_in_train":
            self.q_train = self.q_train[torch.randperm(N_TRAIN, generator=g)]  # noqa: E501  BUG questions_permuted_in_train: the training questions shuffled apart from their images and answers

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, q, y = self.x_train[:n], self.q_train[:n], self.y_train[:n]
        model = FiLMCNN(self.bug)
        splits = (("train", x[:400], q[:400], y[:400]),
                  ("val", self.x_val, self.q_val, self.y_val))

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, qs, ys in splits:
                    logits = model(xs, qs)
                    out[f"{split}/loss"] = F.cross_entropy(logits, ys).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == ys).float().mean().item()
            return out

        def loss(model, b):
            return F.cross_entropy(model(b[0], b[1]), b[2])

        return Problem(model=model, train_size=n, get_batch=lambda idx: (x[idx], q[idx], y[idx]),
                       loss=loss, evaluate=evaluate, chance_loss=math.log(4),
                       forward=lambda model, b: model(b[0], b[1]), targets=lambda b: b[2])
