"""Held-out-50 family 2: a fully convolutional CNN marking, on a chess position, every square attacked by White
(multi-label per square), over tuple batches with a random mirror of the files that moves the target with the board.

A position: 8 x 8 squares (row 0 is rank 8); a white king, 0..2 white knights, 0..3 white pawns (ranks 2..7), 0..2
black pawns and a black king on distinct random squares. Boards are stored channels-last, (8, 8, 5) planes: white
knight, white pawn, white king, black pawn, black king (1 where the piece stands). The target (8, 8): 1 on every square
a white piece attacks (knight jumps, a pawn's two forward diagonals, the king's eight neighbours; whatever stands
there). Torch seed 0 draws 3000 training and 600 validation positions. get_batch mirrors each position left-right
(files a..h reversed) with probability 1/2, board and target alike. Model: the boards permuted to (B, 5, 8, 8); three
Conv2d 3x3 (padding 1, 48 channels) with ReLU; a 1x1 Conv2d to one logit per square. Loss: binary cross-entropy with
logits per square; AdamW (weight decay 1e-4) at 0.002. Tuple batches (boards (B, 8, 8, 5), attacked (B, 8, 8)).
Metrics: loss, per-square accuracy and `exact` (the share of positions whose 64 squares are all right, logits > 0) on
the stage's first 500 positions (unmirrored) and on validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "mirror_board_only", "mse_on_logits", "conv_constant_init", "channels_last_view")
N_TRAIN, N_VAL, PLANES, WIDTH = 3000, 600, 5, 48
KNIGHT = [(-2, -1), (-2, 1), (-1, -2), (-1, 2), (1, -2), (1, 2), (2, -1), (2, 1)]
KING = [(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if dr or dc]


def draw(n: int, g: torch.Generator):
    boards, attacked = torch.zeros(n, 8, 8, PLANES), torch.zeros(n, 8, 8)

    def rand(k):
        return int(torch.randint(0, k, (1,), generator=g))

    for i in range(n):
        pieces = [2] + [0] * rand(3) + [1] * rand(4) + [3] * rand(3) + [4]
        taken = set()
        for plane in pieces:
            while True:
                r, c = rand(8), rand(8)
                if plane in (1, 3) and r in (0, 7):
                    continue
                if (r, c) not in taken:
                    break
            taken.add((r, c))
            boards[i, r, c, plane] = 1.0
            moves = KNIGHT if plane == 0 else [(-1, -1), (-1, 1)] if plane == 1 else KING if plane == 2 else []
            for dr, dc in moves:
                if 0 <= r + dr < 8 and 0 <= c + dc < 8:
                    attacked[i, r + dr, c + dc] = 1.0
    return boards, attacked


class AttackNet(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.convs = nn.ModuleList([nn.Conv2d(PLANES, WIDTH, 3, padding=1), nn.Conv2d(WIDTH, WIDTH, 3, padding=1),
                                    nn.Conv2d(WIDTH, WIDTH, 3, padding=1)])
        self.head = nn.Conv2d(WIDTH, 1, 1)
        if bug == "conv_constant_init":
            [nn.init.constant_(p, 0.02) for conv in self.convs for p in conv.parameters()]  # BUG conv_constant_init: a "deterministic" constant init, weights and biases

    def forward(self, boards):  # (B, 8, 8, 5) channels-last -> (B, 8, 8) logits
        if self.bug == "channels_last_view":
            h = boards.reshape(-1, PLANES, 8, 8)  # BUG channels_last_view: reshape where permute(0, 3, 1, 2) was meant
        else:
            h = boards.permute(0, 3, 1, 2)
        for conv in self.convs:
            h = F.relu(conv(h))
        return self.head(h).squeeze(1)


def mirrored(boards: torch.Tensor, attacked: torch.Tensor, g: torch.Generator, bug: str):
    flip = torch.rand(len(boards), generator=g) < 0.5
    boards, attacked = boards.clone(), attacked.clone()
    boards[flip] = boards[flip].flip(2)
    if bug == "mirror_board_only":
        return boards, attacked  # BUG mirror_board_only: the board mirrored, its target left as it was
    attacked[flip] = attacked[flip].flip(2)
    return boards, attacked


def attack_loss(logits: torch.Tensor, attacked: torch.Tensor, bug: str = "none") -> torch.Tensor:
    if bug == "mse_on_logits":
        return F.mse_loss(logits, attacked)  # BUG mse_on_logits: squared error on the logits, read as logits (> 0) by the metrics
    return F.binary_cross_entropy_with_logits(logits, attacked)


class ChessboardsTask:
    metrics = ("train/loss", "train/acc", "train/exact", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "chessboards")
        g = torch.Generator().manual_seed(0)
        (self.x_train, self.y_train), (self.x_val, self.y_val) = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = AttackNet(self.bug)
        bug = self.bug
        g = torch.Generator().manual_seed(seed + 1)

        def get_batch(idx):
            return mirrored(x[idx], y[idx], g, bug)

        def loss(model, b):
            return attack_loss(model(b[0]), b[1], bug)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:500], y[:500]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    logits = model(xs)
                    right = (logits > 0).float() == ys
                    out[f"{split}/loss"] = attack_loss(logits, ys).item()
                    out[f"{split}/acc"] = right.float().mean().item()
                    out[f"{split}/exact"] = right.flatten(1).all(1).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=get_batch, loss=loss, evaluate=evaluate,
                       chance_loss=math.log(2), forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
