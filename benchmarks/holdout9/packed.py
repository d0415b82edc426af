"""Held-out-9 family 2: an LSTM classifier over variable-length sequences, packed with pack_padded_sequence.

Each sequence holds 3 to 16 digit tokens 1..9 (0 pads); the label is 1 when the sequence's mean token is above 5
(its sum above 5 x its length), else 0. The tokens are embedded (16), packed (lengths on the CPU,
enforce_sorted=False), run through a one-layer LSTM (64), and the last valid hidden state (h_n, which packing makes the
state after each sequence's own last token) goes to a linear classifier. Tuple batches (padded tokens, lengths,
label), padded to the training set's longest sequence. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "sorted_not_restored", "padded_last_step", "embedding_std_100", "embedding_frozen")
PAD, VOCAB, EMBED, HIDDEN = 0, 10, 16, 64
MIN_LEN, MAX_LEN = 3, 16
TRAIN_SEED, VAL_SEED = 0, 1


def sequences(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(MIN_LEN, MAX_LEN + 1, (n,), generator=g)
    tokens = torch.randint(1, VOCAB, (n, MAX_LEN), generator=g)
    tokens[torch.arange(MAX_LEN) >= lengths[:, None]] = PAD
    label = (tokens.sum(1) > 5 * lengths).long()
    return tokens, lengths, label


class PackedLSTM(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.embed = nn.Embedding(VOCAB, EMBED, padding_idx=PAD)
        if bug == "embedding_std_100":
            nn.init.normal_(self.embed.weight, std=100.0)  # BUG embedding_std_100: a huge init (std 1 meant)
        if bug == "embedding_frozen":
            self.embed.weight.requires_grad_(False)  # BUG embedding_frozen: frozen "like a pretrained table", random
        self.lstm = nn.LSTM(EMBED, HIDDEN, batch_first=True)
        self.head = nn.Linear(HIDDEN, 2)

    def forward(self, tokens, lengths):  # (B, T) ids, (B,) lengths on the CPU -> (B, 2) logits
        e = self.embed(tokens)
        if self.bug == "sorted_not_restored":  # sorted by hand "for speed", as enforce_sorted=True wants
            order = lengths.argsort(descending=True)
            packed = pack_padded_sequence(e[order], lengths[order], batch_first=True)
            _, (h, _) = self.lstm(packed)
            return self.head(h[-1])  # BUG sorted_not_restored: rows left in the length order, never unsorted
        packed = pack_padded_sequence(e, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, (h, _) = self.lstm(packed)
        if self.bug == "padded_last_step":
            out, _ = pad_packed_sequence(out, batch_first=True)
            return self.head(out[:, -1])  # BUG padded_last_step: the last padded step (zeros unless longest)
        return self.head(h[-1])


class PackedTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none", n_train: int = 2000, n_val: int = 1000):
        self.bug = check_bug(bug, BUGS, "packed")
        self.train, self.val = sequences(n_train, TRAIN_SEED), sequences(n_val, VAL_SEED)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.train[0]))
        train = tuple(t[:n] for t in self.train)
        model = PackedLSTM(self.bug)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (tokens, lengths, label) in (("train", train), ("val", self.val)):
                    logits = model(tokens, lengths)
                    out[f"{split}/loss"] = F.cross_entropy(logits, label).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == label).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: tuple(t[idx] for t in train),
                       loss=lambda model, batch: F.cross_entropy(model(batch[0], batch[1]), batch[2]),
                       evaluate=evaluate, chance_loss=math.log(2), forward=lambda model, batch: model(*batch[:2]),
                       targets=lambda batch: batch[2])
