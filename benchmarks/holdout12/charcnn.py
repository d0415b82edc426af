"""Held-out-12 family 1: a character-level CNN telling which of 4 "languages" (letter distributions) wrote a string.

Each language is a skewed distribution over the 26 letters (uniform draws cubed, normalised; seeded); a string is 6..40 letters
drawn from one of them, padded with 0 to 40 (letters are 1..26). Model: character embedding (16), two 1-D
convolutions of widths 3 and 5 (48 channels each, 'same' padding) with ReLU, max-over-time pooling over the valid
positions only (padding set to -inf first), a linear head 96 -> 4; cross-entropy. Tuple batches
(chars (B, 40), lengths (B,), label (B,)). Goal: validation accuracy.
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

BUGS = ("none", "labels_rolled", "pool_mask_inverted", "embedding_std_50")
LANGS, LETTERS, MIN_LEN, MAX_LEN, EMB, CH = 4, 26, 6, 40, 16, 48
DATA_SEED, N_TRAIN, N_VAL = 0, 2000, 500


def strings(n: int, g: torch.Generator, probs: torch.Tensor):
    label = torch.randint(LANGS, (n,), generator=g)
    lengths = torch.randint(MIN_LEN, MAX_LEN + 1, (n,), generator=g)
    letters = torch.multinomial(probs[label], MAX_LEN, replacement=True, generator=g) + 1
    chars = torch.where(torch.arange(MAX_LEN) < lengths[:, None], letters, torch.zeros_like(letters))
    return chars, lengths, label


class CharCNN(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.emb = nn.Embedding(LETTERS + 1, EMB, padding_idx=0)
        if bug == "embedding_std_50":
            nn.init.normal_(self.emb.weight, std=50.0)  # BUG embedding_std_50: std meant for a 0..255 byte scale
        self.convs = nn.ModuleList([nn.Conv1d(EMB, CH, k, padding=k // 2) for k in (3, 5)])
        self.head = nn.Linear(2 * CH, LANGS)

    def forward(self, chars, lengths):  # (B, L), (B,) -> (B, 4)
        h = self.emb(chars).transpose(1, 2)  # (B, EMB, L)
        valid = torch.arange(chars.shape[1], device=chars.device) < lengths[:, None]  # (B, L)
        if self.bug == "pool_mask_inverted":
            valid = torch.arange(chars.shape[1], device=chars.device) >= lengths[:, None]  # BUG pool_mask_inverted
        pooled = [F.relu(conv(h)).masked_fill(~valid[:, None, :], float("-inf")).amax(-1) for conv in self.convs]
        return self.head(torch.cat(pooled, 1))


class CharCNNTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "charcnn")
        g = torch.Generator().manual_seed(DATA_SEED)
        probs = torch.rand(LANGS, LETTERS, generator=g) ** 3  # skewed: a few letters common, most rare
        probs = probs / probs.sum(1, keepdim=True)
        chars, lengths, label = strings(N_TRAIN, g, probs)
        if bug == "labels_rolled":
            label = label.roll(1)  # BUG labels_rolled: off by one after dropping a header row from the texts only
        self.train = (chars, lengths, label)
        self.val = strings(N_VAL, g, probs)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        chars, lengths, label = (t[:n] for t in self.train)
        model = CharCNN(self.bug)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (c, l, y) in (("train", (chars, lengths, label)), ("val", self.val)):
                    logits = model(c, l)
                    out[f"{split}/loss"] = F.cross_entropy(logits, y).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == y).float().mean().item()
            return out

        problem = Problem(model=model, train_size=n, get_batch=lambda idx: (chars[idx], lengths[idx], label[idx]),
                          loss=lambda model, b: F.cross_entropy(model(b[0], b[1]), b[2]), evaluate=evaluate,
                          chance_loss=math.log(LANGS), forward=lambda model, b: model(b[0], b[1]),
                          targets=lambda b: b[2])
        problem.extras["y_val"] = self.val[2]
        return problem
