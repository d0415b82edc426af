"""Held-out-8 family 4: a 1-D conv + GRU acoustic-style model trained with nn.CTCLoss on generated frame sequences.

Each sequence spells 1..4 symbols (of 5; no symbol twice in a row), each held for 3..6 frames, with 0..2 silent
frames between symbols and 1..3 at each end (at least 16 frames in all, at most 36). A frame is its symbol's fixed
16-d prototype plus Gaussian noise (std 0.5); a silent frame is noise alone. Batches are padded with zero frames
to their longest sequence. The model scales each frame to unit length, then a stride-2 Conv1d (so T' = T // 2),
ReLU, a GRU and a linear layer give log_softmax over 6 classes (0 the CTC blank), batch first; the loss transposes
them to (T', N, C) for F.ctc_loss with input lengths T // 2 and the target lengths. The goal is validation sequence
accuracy of a greedy (best-path) decode. Dict batches `frames`, `lengths`, `targets`, `target_lengths`.
Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "targets_from_val_split", "log_softmax_over_time", "frame_norm_no_eps", "conv_zero_init")
SYMBOLS, FEATURES, MAX_SYMBOLS, MIN_FRAMES, MAX_FRAMES = 5, 16, 4, 16, 36
BLANK, CLASSES, CONV, HIDDEN = 0, SYMBOLS + 1, 48, 64
TRAIN_SEED, VAL_SEED, PROTOTYPE_SEED = 0, 1, 7


def sequences(n: int, seed: int) -> dict[str, torch.Tensor]:
    prototypes = torch.randn(SYMBOLS + 1, FEATURES, generator=torch.Generator().manual_seed(PROTOTYPE_SEED))
    prototypes[BLANK] = 0  # silence: noise alone
    g = torch.Generator().manual_seed(seed)
    ids = torch.zeros(n, MAX_FRAMES, dtype=torch.long)  # the symbol shown in each frame (0: silence or padding)
    lengths = torch.zeros(n, dtype=torch.long)
    targets = torch.zeros(n, MAX_SYMBOLS, dtype=torch.long)
    target_lengths = torch.randint(1, MAX_SYMBOLS + 1, (n,), generator=g)
    for i in range(n):
        t = int(torch.randint(1, 4, (1,), generator=g))  # leading silence
        previous = BLANK
        for k in range(int(target_lengths[i])):
            symbol = previous
            while symbol == previous:
                symbol = int(torch.randint(1, SYMBOLS + 1, (1,), generator=g))
            hold = int(torch.randint(3, 7, (1,), generator=g))
            ids[i, t:t + hold] = symbol
            targets[i, k], previous = symbol, symbol
            t += hold + int(torch.randint(0, 3, (1,), generator=g))
        lengths[i] = max(MIN_FRAMES, t + int(torch.randint(1, 4, (1,), generator=g)))
    real = torch.arange(MAX_FRAMES) < lengths[:, None]
    frames = (prototypes[ids] + 0.5 * torch.randn(n, MAX_FRAMES, FEATURES, generator=g)) * real[..., None]
    return {"frames": frames, "lengths": lengths, "targets": targets, "target_lengths": target_lengths}


def take(data: dict[str, torch.Tensor], idx: torch.Tensor) -> dict[str, torch.Tensor]:
    """The examples idx, their frames padded to the longest of them (a collate function's usual work)."""
    batch = {k: v[idx] for k, v in data.items()}
    batch["frames"] = batch["frames"][:, :int(batch["lengths"].max())]
    return batch


class CTCModel(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.conv = nn.Conv1d(FEATURES, CONV, kernel_size=4, stride=2, padding=1)  # T' = T // 2
        if bug == "conv_zero_init":
            # "start the front end silent"
            for p in self.conv.parameters(): nn.init.zeros_(p)  # noqa: E701 BUG conv_zero_init: weight and bias 0
        self.relu = nn.ReLU()
        self.gru = nn.GRU(CONV, HIDDEN, batch_first=True)
        self.out = nn.Linear(HIDDEN, CLASSES)

    def forward(self, frames):  # (B, T, F) -> (B, T // 2, CLASSES) log-probabilities
        x = frames / (frames.norm(dim=-1, keepdim=True) + 1e-6)  # each frame at unit length; padding stays 0
        if self.bug == "frame_norm_no_eps":
            x = frames / frames.norm(dim=-1, keepdim=True)  # BUG frame_norm_no_eps: a zero padding frame is 0 / 0
        h = self.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)
        h, _ = self.gru(h)
        if self.bug == "log_softmax_over_time":
            return self.out(h).log_softmax(dim=1)  # BUG log_softmax_over_time: dim 1 is time here, not the classes
        return self.out(h).log_softmax(dim=-1)


def ctc(log_probs: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return F.ctc_loss(log_probs.transpose(0, 1), batch["targets"], batch["lengths"] // 2, batch["target_lengths"],
                      blank=BLANK)


def greedy_right(log_probs: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Best-path decoding (argmax per frame, repeats merged, blanks dropped) compared with each target string."""
    best = log_probs.argmax(-1)
    right = []
    for path, n, target, k in zip(best.tolist(), (batch["lengths"] // 2).tolist(), batch["targets"].tolist(),
                                  batch["target_lengths"].tolist()):
        merged = [s for j, s in enumerate(path[:n]) if s != BLANK and (j == 0 or s != path[j - 1])]
        right.append(merged == target[:k])
    return torch.tensor(right, dtype=torch.float32)


class CTCTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none", n_train: int = 2000, n_val: int = 500):
        self.bug = check_bug(bug, BUGS, "ctc")
        self.train, self.val = sequences(n_train, TRAIN_SEED), sequences(n_val, VAL_SEED)
        if bug == "targets_from_val_split":  # the transcripts read from the validation file
            w = sequences(n_train, VAL_SEED)
            self.train.update(targets=w["targets"], target_lengths=w["target_lengths"])  # BUG targets_from_val_split
        # an uninformed guess: every class equally likely at every frame
        everything = take(self.train, torch.arange(n_train))
        uniform = torch.full((n_train, MAX_FRAMES // 2, CLASSES), 1.0 / CLASSES).log()
        self.chance = ctc(uniform[:, :everything["frames"].shape[1] // 2], everything).item()

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.train["lengths"]))
        train = {k: v[:n] for k, v in self.train.items()}
        model = CTCModel(self.bug)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, data in (("train", train), ("val", self.val)):
                    batch = take(data, torch.arange(len(data["lengths"])))
                    log_probs = model(batch["frames"])
                    out[f"{split}/loss"] = ctc(log_probs, batch).item()
                    out[f"{split}/acc"] = greedy_right(log_probs, batch).mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: take(train, idx),
                       loss=lambda model, batch: ctc(model(batch["frames"]), batch), evaluate=evaluate,
                       chance_loss=self.chance, forward=lambda model, batch: model(batch["frames"]),
                       targets=lambda batch: batch["targets"])
