"""Held-out family 3: an LSTM sequence tagger (running sum mod 3) on padded variable-length sequences.

Inputs are padded to one fixed length and run through `pack_padded_sequence`, so padding never enters the
recurrence; the loss ignores padded positions (target IGNORE). Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from benchmarks.bugsuite.common import check_bug, evaluating, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "targets_shifted", "head_in_list", "norm_sqrt_zero")
PAD, IGNORE, SYMBOLS, MODULUS, MIN_LEN, MAX_LEN = 0, -100, 5, 3, 3, 12


def running_sums(n: int, seed: int, shifted: bool = False) -> dict[str, torch.Tensor]:
    """n sequences of symbols 1..SYMBOLS, their lengths and, per position, the running sum mod MODULUS."""
    g = torch.Generator().manual_seed(seed)
    tokens = torch.full((n, MAX_LEN), PAD)
    tags = torch.full((n, MAX_LEN), IGNORE)
    lengths = torch.randint(MIN_LEN, MAX_LEN + 1, (n,), generator=g)
    for i, length in enumerate(lengths.tolist()):
        seq = torch.randint(1, SYMBOLS + 1, (length,), generator=g)
        tokens[i, :length] = seq
        tags[i, :length] = seq.cumsum(0) % MODULUS
        if shifted:
            tags[i, :length - 1] = tags[i, 1:length].clone()  # BUG targets_shifted: tag t is the sum up to t+1
            tags[i, length - 1] = IGNORE
    return {"tokens": tokens, "lengths": lengths, "tags": tags}


class Tagger(nn.Module):
    def __init__(self, bug: str, emb: int = 16, hidden: int = 64):
        super().__init__()
        self.bug = bug
        self.emb = nn.Embedding(SYMBOLS + 1, emb, padding_idx=PAD)
        self.lstm = nn.LSTM(emb, hidden, batch_first=True)
        if bug == "head_in_list":
            self.heads = [nn.Linear(hidden, MODULUS)]  # BUG head_in_list: a plain list does not register it
        else:
            self.heads = nn.ModuleList([nn.Linear(hidden, MODULUS)])  # one head per task, one task here

    def forward(self, tokens, lengths):
        packed = pack_padded_sequence(self.emb(tokens), lengths.cpu(), batch_first=True, enforce_sorted=False)
        states, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True, total_length=MAX_LEN)
        if self.bug == "norm_sqrt_zero":
            states = states / states.pow(2).sum(-1, keepdim=True).sqrt() * 4  # BUG: padded states are 0 -> 0/0
        else:
            states = states / (states.pow(2).sum(-1, keepdim=True) + 1e-6).sqrt() * 4  # unit length, scaled
        return self.heads[0](states)


class LSTMTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none", n_train: int = 3000, n_val: int = 500):
        self.bug = check_bug(bug, BUGS, "lstm")
        shifted = bug == "targets_shifted"
        self.train = running_sums(n_train, seed=0, shifted=shifted)
        self.val = running_sums(n_val, seed=1, shifted=shifted)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.train["tokens"]))
        train = {k: v[:n] for k, v in self.train.items()}
        model = Tagger(self.bug)

        def forward(model, batch):
            return model(batch["tokens"], batch["lengths"])

        def loss(model, batch):
            return F.cross_entropy(forward(model, batch).flatten(0, 1), batch["tags"].flatten(), ignore_index=IGNORE)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, data in (("train", train), ("val", self.val)):
                    out.update(sequence_metrics(split, forward(model, data), data["tags"], IGNORE))
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: {k: v[idx] for k, v in train.items()},
                       loss=loss, evaluate=evaluate, chance_loss=math.log(MODULUS), forward=forward,
                       targets=lambda batch: batch["tags"])
