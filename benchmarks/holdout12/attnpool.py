"""Held-out-12 family 2: a bidirectional GRU with masked additive attention pooling: are there more A's than B's?

Each example: 1..30 tokens drawn uniformly from 1..5 (token 1 is A, token 2 is B), padded with 0 to 30; the label is
1 when A occurs more often than B. Model: embedding (16), a bidirectional GRU (32 per direction) over the packed
sequence, additive attention (score = v . tanh(W h + b) over the valid positions only, -inf elsewhere, softmax over
time, weighted sum of the GRU states), a linear classifier 64 -> 2; cross-entropy. Dict batches
{"x": tokens (B, 30), "lengths": (B,), "y": (B,)}. Goal: validation accuracy.
Each bug is one line, marked `# BUG <name>`.
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

BUGS = ("none", "tokens_shuffled_alone", "gru_frozen", "pads_attended", "mask_drops_last")
VOCAB, MAX_LEN, EMB, HIDDEN = 6, 30, 16, 32
DATA_SEED, N_TRAIN, N_VAL = 0, 2000, 500


def sequences(n: int, g: torch.Generator):
    lengths = torch.randint(1, MAX_LEN + 1, (n,), generator=g)
    tokens = torch.randint(1, VOCAB, (n, MAX_LEN), generator=g)
    tokens = torch.where(torch.arange(MAX_LEN) < lengths[:, None], tokens, torch.zeros_like(tokens))
    label = ((tokens == 1).sum(1) > (tokens == 2).sum(1)).long()
    return tokens, lengths, label


class AttnPoolGRU(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.emb = nn.Embedding(VOCAB, EMB, padding_idx=0)
        self.gru = nn.GRU(EMB, HIDDEN, batch_first=True, bidirectional=True)
        if bug == "gru_frozen":
            self.gru.requires_grad_(False)  # BUG gru_frozen: left from the linear-probe experiment
        self.attn = nn.Linear(2 * HIDDEN, 2 * HIDDEN)
        self.v = nn.Linear(2 * HIDDEN, 1, bias=False)
        self.head = nn.Linear(2 * HIDDEN, 2)

    def forward(self, tokens, lengths):  # (B, L), (B,) -> (B, 2)
        packed = pack_padded_sequence(self.emb(tokens), lengths.cpu(), batch_first=True, enforce_sorted=False)
        h, _ = pad_packed_sequence(self.gru(packed)[0], batch_first=True)  # (B, longest in the batch, 2H)
        scores = self.v(torch.tanh(self.attn(h))).squeeze(-1)  # (B, T)
        valid = torch.arange(h.shape[1], device=h.device) < lengths.to(h.device)[:, None]
        if self.bug == "mask_drops_last":
            valid = torch.arange(h.shape[1], device=h.device) < (lengths.to(h.device) - 1)[:, None]  # BUG mask_drops_last
        scores = scores.masked_fill(~valid, float("-inf"))
        if self.bug == "pads_attended":
            scores = scores.masked_fill(~valid, 0.0)  # BUG pads_attended: "masked" to a neutral score of 0
        weights = scores.softmax(-1)
        return self.head((weights.unsqueeze(-1) * h).sum(1))


class AttnPoolTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "attnpool")
        g = torch.Generator().manual_seed(DATA_SEED)
        tokens, lengths, label = sequences(N_TRAIN, g)
        p = torch.randperm(N_TRAIN, generator=torch.Generator().manual_seed(1))  # the loader's shuffle
        if bug == "tokens_shuffled_alone":
            tokens, lengths = tokens[p], lengths[p]  # BUG tokens_shuffled_alone: the labels left in file order
        self.train = (tokens, lengths, label)
        self.val = sequences(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        tokens, lengths, label = (t[:n] for t in self.train)
        model = AttnPoolGRU(self.bug)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (x, l, y) in (("train", (tokens, lengths, label)), ("val", self.val)):
                    logits = model(x, l)
                    out[f"{split}/loss"] = F.cross_entropy(logits, y).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == y).float().mean().item()
            return out

        problem = Problem(model=model, train_size=n,
                          get_batch=lambda idx: {"x": tokens[idx], "lengths": lengths[idx], "y": label[idx]},
                          loss=lambda model, b: F.cross_entropy(model(b["x"], b["lengths"]), b["y"]),
                          evaluate=evaluate, chance_loss=math.log(2),
                          forward=lambda model, b: model(b["x"], b["lengths"]), targets=lambda b: b["y"])
        problem.extras["y_val"] = self.val[2]
        return problem
