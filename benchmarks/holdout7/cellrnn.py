"""Held-out-7 family 2: a hand-unrolled GRUCell classifier: which of two symbols occurs more often in a sequence.

Sequences of 6..24 tokens over 6 symbols (0 is padding; 1 and 2 are the symbols counted, 3..5 distractors), padded
to 24. The label is 1 when symbol 2 occurs more often than symbol 1 (a tie is broken by changing the first token).
An embedding, an nn.GRUCell stepped in a Python loop over time, the state update masked (h kept past each
sequence's length), and a linear head on the final state. Tuple batches (tokens, lengths, label).
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

BUGS = ("none", "label_before_truncation", "cell_in_forward", "embedding_std_100")
SYMBOLS, MIN_LEN, MAX_LEN, EMBED, HIDDEN = 6, 6, 24, 16, 48
TRAIN_SEED, VAL_SEED = 0, 1


def sequences(n: int, seed: int, bug: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(MIN_LEN, MAX_LEN + 1, (n,), generator=g)
    tokens = torch.randint(1, SYMBOLS, (n, MAX_LEN), generator=g)
    real = torch.arange(MAX_LEN) < lengths[:, None]
    count = lambda t, keep: ((tokens == t) & keep).sum(1)  # noqa: E731
    tie = count(1, real) == count(2, real)
    tokens[tie, 0] = torch.where(tokens[tie, 0] == 1, 2, 1)  # swap a 1 for a 2 (or the reverse, or add a 1)
    label = (count(2, real) > count(1, real)).long()
    if bug == "label_before_truncation":  # counted over all 24 generated tokens, not the first `length`
        label = (count(2, real | True) > count(1, real | True)).long()  # BUG label_before_truncation
    return tokens * real, lengths, label


class CellRNN(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.emb = nn.Embedding(SYMBOLS, EMBED, padding_idx=0)
        if bug == "embedding_std_100":
            nn.init.normal_(self.emb.weight, std=100.0)  # BUG embedding_std_100: "a wide init spreads the symbols"
        self.cell = nn.GRUCell(EMBED, HIDDEN)
        self.head = nn.Linear(HIDDEN, 2)

    def forward(self, tokens, lengths):  # tokens (B, T), lengths (B,)
        cell = self.cell
        if self.bug == "cell_in_forward":
            cell = nn.GRUCell(EMBED, HIDDEN)  # BUG cell_in_forward: a new, untrained cell at every call
        x = self.emb(tokens)
        h = x.new_zeros(len(tokens), HIDDEN)
        for t in range(tokens.shape[1]):
            step = cell(x[:, t], h)
            h = torch.where((t < lengths)[:, None], step, h)  # past its length a sequence keeps its state
        return self.head(h)


class CellRNNTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none", n_train: int = 2000, n_val: int = 500):
        self.bug = check_bug(bug, BUGS, "cellrnn")
        self.train, self.val = sequences(n_train, TRAIN_SEED, bug), sequences(n_val, VAL_SEED, bug)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.train[0]))
        train = tuple(v[:n] for v in self.train)
        model = CellRNN(self.bug)

        def forward(model, batch):
            return model(batch[0], batch[1])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, data in (("train", train), ("val", self.val)):
                    logits = forward(model, data)
                    out[f"{split}/loss"] = F.cross_entropy(logits, data[2]).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == data[2]).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: tuple(v[idx] for v in train),
                       loss=lambda model, batch: F.cross_entropy(forward(model, batch), batch[2]),
                       evaluate=evaluate, chance_loss=math.log(2), forward=forward, targets=lambda batch: batch[2])
