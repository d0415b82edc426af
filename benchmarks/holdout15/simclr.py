"""Held-out-15 family 2: SimCLR, a small CNN encoder trained with the NT-Xent contrastive loss on generated images.

Each 1x16x16 image holds one of 5 mirror-symmetric patterns (square outline, filled disk, horizontal bar, plus, X)
of random size (half-size 3..5), brightness and place on a background of random level with noise 0.15. The batch
function returns two random augmentations of every image (a shift of up to 2 pixels each way, a left-right flip
half the time, Gaussian noise 0.1): the positives are the two views of one image, the negatives the other 2B - 2
views of the batch, so the training loss depends on the batch by design. Model: three conv 3x3 - GroupNorm(4) -
ReLU blocks (1 -> 16 -> 32 -> 64 channels, the last two with stride 2), global average pooling (the 64-d
representation h), a projection head (linear 64 -> 64, ReLU, linear 64 -> 32) and an L2 normalisation (z, the
model's output). Loss: NT-Xent at temperature 0.2 written out (exp of the cosine similarities, self-pairs zeroed,
-log of the positive's share). Adam at 0.002. Dict batches {x1, x2} (the two views, (B, 1, 16, 16) each).
Metrics: train/match (instance retrieval: for fixed views of up to 256 training images, the nearest second view
of each first view is its own) and the NT-Xent of those pairs (train/loss; val/loss on validation images); goal:
val/knn_acc, a 5-nearest-neighbour vote (cosine on h, eval mode, no augmentation) of validation images' classes
among 1000 labelled training images.
Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "normalised_over_batch", "projection_not_normalised", "features_detached")
SIZE, CLASSES, TEMPERATURE, K = 16, 5, 0.2, 5
DATA_SEED, N_TRAIN, N_VAL, BANK, EVAL_PAIRS = 0, 2000, 500, 1000, 256


def pattern(kind: int, g: torch.Generator) -> torch.Tensor:
    r = int(torch.randint(3, 6, (1,), generator=g))                  # half-size 3..5
    cy, cx = (int(v) for v in torch.randint(r + 1, SIZE - r - 1, (2,), generator=g))
    ys, xs = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
    dy, dx = (ys - cy).abs(), (xs - cx).abs()
    if kind == 0:
        shape = torch.maximum(dy, dx) == r                                # square outline
    elif kind == 1:
        shape = (dy ** 2 + dx ** 2) <= r ** 2                             # filled disk
    elif kind == 2:
        shape = (dy <= 1) & (dx <= r)                                     # horizontal bar
    elif kind == 3:
        shape = ((dy == 0) & (dx <= r)) | ((dx == 0) & (dy <= r))         # plus
    else:
        shape = (dy == dx) & (dy <= r)                                    # X
    level = 0.3 * float(torch.rand(1, generator=g))                       # background
    img = level + 0.15 * torch.randn(SIZE, SIZE, generator=g)
    img[shape] += 0.4 + 0.6 * float(torch.rand(1, generator=g))
    return img


def images(n: int, g: torch.Generator):
    y = torch.randint(CLASSES, (n,), generator=g)
    return torch.stack([pattern(int(k), g) for k in y])[:, None], y


def augment(x: torch.Tensor) -> torch.Tensor:
    """A random view of each image: shift by up to 2 pixels each way (zeros enter), flip half, add noise."""
    b = len(x)
    padded = F.pad(x[:, 0], (2, 2, 2, 2))
    dy, dx = torch.randint(0, 5, (2, b, 1))
    flip = torch.rand(b, 1) < 0.5
    cols = torch.arange(SIZE).expand(b, SIZE)
    rows, cols = cols + dy, torch.where(flip, SIZE - 1 - cols, cols) + dx
    out = padded[torch.arange(b)[:, None, None], rows[:, :, None], cols[:, None, :]]
    return out[:, None] + 0.1 * torch.randn_like(out[:, None])


def block(cin: int, cout: int, stride: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.GroupNorm(4, cout), nn.ReLU())


class SimCLR(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.encoder = nn.Sequential(block(1, 16, 1), block(16, 32, 2), block(32, 64, 2))
        self.head = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 32))

    def represent(self, x):  # (B, 1, 16, 16) -> (B, 64), what the kNN evaluation reads
        return self.encoder(x).mean((2, 3))

    def forward(self, x):  # (B, 1, 16, 16) -> (B, 32) unit vectors
        h = self.represent(x)
        if self.bug == "features_detached":
            h = h.detach()  # BUG features_detached: left from the linear-probe code, only the head trains
        if self.bug == "normalised_over_batch":
            return F.normalize(self.head(h), dim=0)  # BUG normalised_over_batch: each dimension over the batch
        if self.bug == "projection_not_normalised":
            return self.head(h)  # BUG projection_not_normalised: dot products instead of cosines
        return F.normalize(self.head(h), dim=1)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """-log of each view's positive among the other 2B - 1 views, written out as in the SimCLR paper."""
    z = torch.cat([z1, z2])
    sim = torch.exp(z @ z.T / TEMPERATURE) * (1 - torch.eye(len(z)))  # self-pairs zeroed
    b = len(z1)
    positive = torch.cat([sim.diagonal(b), sim.diagonal(-b)])
    return -(positive / sim.sum(1)).log().mean()


class SimCLRTask:
    metrics = ("train/loss", "train/match", "val/loss", "val/knn_acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "simclr")
        g = torch.Generator().manual_seed(DATA_SEED)
        self.train, self.val = images(N_TRAIN, g), images(N_VAL, g)
        state = torch.random.get_rng_state()
        torch.manual_seed(DATA_SEED)  # fixed evaluation views, the same in every stage
        self.train_views = (augment(self.train[0][:EVAL_PAIRS]), augment(self.train[0][:EVAL_PAIRS]))
        self.val_views = (augment(self.val[0][:EVAL_PAIRS]), augment(self.val[0][:EVAL_PAIRS]))
        torch.random.set_rng_state(state)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x = self.train[0][:n]
        model = SimCLR(self.bug)
        m = min(n, EVAL_PAIRS)
        bank_x, bank_y = self.train[0][:BANK], self.train[1][:BANK]

        def evaluate(model):
            with evaluating(model):
                a, b = model(self.train_views[0][:m]), model(self.train_views[1][:m])
                out = {"train/loss": nt_xent(a, b).item(),
                       "train/match": ((a @ b.T).argmax(1) == torch.arange(m)).float().mean().item(),
                       "val/loss": nt_xent(model(self.val_views[0]), model(self.val_views[1])).item()}
                bank = F.normalize(model.represent(bank_x), dim=1)
                query = F.normalize(model.represent(self.val[0]), dim=1)
                nearest = (query @ bank.T).topk(K, 1).indices
                votes = F.one_hot(bank_y[nearest], CLASSES).sum(1)
                out["val/knn_acc"] = (votes.argmax(1) == self.val[1]).float().mean().item()
            return out

        def get_batch(idx):
            return {"x1": augment(x[idx]), "x2": augment(x[idx])}

        def loss(model, b):
            return nt_xent(model(b["x1"]), model(b["x2"]))

        pairs = min(32, n)  # the config's batch size: NT-Xent of unrelated views is log(2B - 1)
        return Problem(model=model, train_size=n, get_batch=get_batch, loss=loss, evaluate=evaluate,
                       chance_loss=math.log(2 * pairs - 1), forward=lambda model, b: model(b["x1"]),
                       show_batch=lambda b: torch.cat([b["x1"], b["x2"]]))
