"""Held-out-3 family 3: a bidirectional GRU classifier over variable-length, padded token sequences.

Each sequence has 4 to 16 tokens from 1..9 (0 pads); its label is 1 when a 7 appears somewhere before a 3
(about half the sequences, by construction). The GRU runs over packed sequences and its states are averaged
over the real tokens only (a mask-aware mean pool). Batches are dicts `ids`, `lengths`, `label`. Each bug is
one line, marked `# BUG <name>`.
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

BUGS = ("none", "sorted_ids_not_labels", "pool_batch_total", "emb_detached", "emb_std100")
PAD, VOCAB, MIN_LEN, MAX_LEN, FIRST, THEN = 0, 10, 4, 16, 7, 3


def seven_before_three(seq: list[int]) -> int:
    return int(FIRST in seq and THEN in seq[seq.index(FIRST) + 1:])


def sequences(n: int, seed: int) -> dict[str, torch.Tensor]:
    """Random sequences, half of them with a 7 planted before a 3, the other half with a 3 before any 7."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.full((n, MAX_LEN), PAD)
    lengths = torch.randint(MIN_LEN, MAX_LEN + 1, (n,), generator=g)
    labels = torch.zeros(n, dtype=torch.long)
    for i, length in enumerate(lengths.tolist()):
        seq = torch.randint(1, VOCAB, (length,), generator=g)
        a, b = sorted(torch.randperm(length, generator=g)[:2].tolist())
        if torch.rand(1, generator=g).item() < 0.5:
            seq[a], seq[b] = FIRST, THEN
        else:
            seq[seq == FIRST] = 1  # no 7 at all, or only after the first 3
            seq[a] = THEN
            seq[b] = FIRST if torch.rand(1, generator=g).item() < 0.5 else seq[b]
        ids[i, :length] = seq
        labels[i] = seven_before_three(seq.tolist())
    return {"ids": ids, "lengths": lengths, "label": labels}


class BiGRUClassifier(nn.Module):
    def __init__(self, bug: str, emb: int = 32, hidden: int = 48):
        super().__init__()
        self.bug = bug
        self.emb = nn.Embedding(VOCAB, emb, padding_idx=PAD)
        if bug == "emb_std100":
            nn.init.normal_(self.emb.weight, std=100.0)  # BUG emb_std100: std 100 meant for a 100-dim scale
        self.gru = nn.GRU(emb, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.ReLU(), nn.Linear(hidden, 2))

    def forward(self, ids, lengths):
        x = self.emb(ids)
        if self.bug == "emb_detached":
            x = x.detach()  # BUG emb_detached: "the embeddings are a fixed lookup table"
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        states, _ = pad_packed_sequence(self.gru(packed)[0], batch_first=True, total_length=ids.shape[1])
        mask = (ids != PAD).unsqueeze(-1).float()  # (B, T, 1)
        if self.bug == "pool_batch_total":
            pooled = (states * mask).sum(1) / mask.sum()  # BUG pool_batch_total: divides by the batch's token count
        else:
            pooled = (states * mask).sum(1) / mask.sum(1)
        return self.head(pooled)


class BiGRUTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none", n_train: int = 3000, n_val: int = 500):
        self.bug = check_bug(bug, BUGS, "bigru")
        self.train = sequences(n_train, seed=0)
        self.val = sequences(n_val, seed=1)
        if bug == "sorted_ids_not_labels":
            order = self.train["lengths"].argsort()  # sort by length so packing pads less; labels keep their order
            train = self.train
            train.update(ids=train["ids"][order], lengths=train["lengths"][order])  # BUG sorted_ids_not_labels

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.train["ids"]))
        train = {k: v[:n] for k, v in self.train.items()}
        model = BiGRUClassifier(self.bug)

        def forward(model, batch):
            return model(batch["ids"], batch["lengths"])

        def loss(model, batch):
            return F.cross_entropy(forward(model, batch), batch["label"])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, data in (("train", train), ("val", self.val)):
                    logits = forward(model, data)
                    out[f"{split}/loss"] = F.cross_entropy(logits, data["label"]).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == data["label"]).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: {k: v[idx] for k, v in train.items()},
                       loss=loss, evaluate=evaluate, chance_loss=math.log(2), forward=forward,
                       targets=lambda batch: batch["label"])
