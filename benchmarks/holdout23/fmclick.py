"""Held-out-23 family 1: a DeepFM-style click model over padded multi-hot categorical feature lists.

Each example has 3 fields (user interests, item tags, context), each a list of 1..4 distinct ids out of the field's 16
(global ids 1..48, PAD = 0), right-padded per field to the batch's longest list. The click label comes from a hidden
factorization machine (torch seed 0: a 4-d vector and a weight per id): the fields' mean vectors' pairwise dot
products plus half the mean weights, thresholded at the training median (balanced). 3000 training, 400 validation
examples. Tuple batches (ids (B, 3, L), y (B,)). Model (d 8): an id embedding (no padding_idx) pooled per field as a
mean over the real ids (a padding mask from ids != PAD), a first-order weight per id pooled the same way, the FM
pairwise term 0.5 ((sum u)^2 - sum u^2), and a deep part Linear(24, 32) - ReLU - Linear(32, 1) on the pooled
vectors; logit = bias + first order + FM + deep. Loss: BCE with logits. Adam at 0.003. Metrics: BCE and accuracy
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

BUGS = ("none", "pad_ids_pooled", "val_clicks_inverted", "sigmoid_as_logit", "emb_std_10")
FIELDS, PER_FIELD, MAX_LIST, D, TRUE_D = 3, 8, 4, 8, 3
VOCAB = 1 + FIELDS * PER_FIELD
PAD = 0
N_TRAIN, N_VAL = 3000, 400


def draw(n: int, g: torch.Generator) -> list[list[list[int]]]:
    out = []
    for _ in range(n):
        ex = []
        for f in range(FIELDS):
            k = int(torch.randint(1, MAX_LIST + 1, (1,), generator=g))
            ex.append((1 + f * PER_FIELD + torch.randperm(PER_FIELD, generator=g)[:k]).tolist())
        out.append(ex)
    return out


def collate(examples: list, y: torch.Tensor):
    width = max(len(lst) for ex in examples for lst in ex)
    ids = torch.full((len(examples), FIELDS, width), PAD)
    for i, ex in enumerate(examples):
        for f, lst in enumerate(ex):
            ids[i, f, :len(lst)] = torch.tensor(lst)
    return ids, y


class DeepFM(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.emb = nn.Embedding(VOCAB, D)
        nn.init.normal_(self.emb.weight, std=0.3)
        if bug == "emb_std_10":
            nn.init.normal_(self.emb.weight, std=10.0)  # BUG emb_std_10: the factor table drawn with std 10 (0.3 meant)
        self.first = nn.Embedding(VOCAB, 1)
        nn.init.normal_(self.first.weight, std=0.01)
        self.bias = nn.Parameter(torch.zeros(1))
        self.deep = nn.Sequential(nn.Linear(FIELDS * D, 32), nn.ReLU(), nn.Linear(32, 1))

    def forward(self, ids):  # (B, F, L) -> (B,) logits
        if self.bug == "pad_ids_pooled":
            mask = (ids >= PAD).float()  # BUG pad_ids_pooled: the padding mask from ids >= PAD (always true)
        else:
            mask = (ids != PAD).float()
        count = mask.sum(2).clamp(min=1)                                          # (B, F)
        u = (self.emb(ids) * mask[..., None]).sum(2) / count[..., None]           # (B, F, D)
        first = ((self.first(ids).squeeze(-1) * mask).sum(2) / count).sum(1)      # (B,)
        fm = 0.5 * (u.sum(1) ** 2 - (u ** 2).sum(1)).sum(-1)                      # (B,)
        return self.bias + first + fm + self.deep(u.flatten(1)).squeeze(-1)


class FMClickTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "fmclick")
        g = torch.Generator().manual_seed(0)
        vec, w = torch.randn(VOCAB, TRUE_D, generator=g), torch.randn(VOCAB, generator=g)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

        def score(ex):
            u = torch.stack([vec[lst].mean(0) for lst in ex])
            pair = 0.5 * (u.sum(0) ** 2 - (u ** 2).sum(0)).sum()
            return float(pair + 0.5 * sum(w[lst].mean() for lst in ex))

        st = torch.tensor([score(e) for e in self.train])
        sv = torch.tensor([score(e) for e in self.val])
        med = st.median()
        self.y_train, self.y_val = (st > med).float(), (sv > med).float()
        if self.bug == "val_clicks_inverted":
            self.y_val = 1 - self.y_val  # BUG val_clicks_inverted: the validation file's click column read as "no click"

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        exs, ys = self.train[:n], self.y_train[:n]
        model = DeepFM(self.bug)
        train_eval, val_eval = collate(exs[:400], ys[:400]), collate(self.val, self.y_val)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (ids, y) in (("train", train_eval), ("val", val_eval)):
                    logit = model(ids)
                    out[f"{split}/loss"] = F.binary_cross_entropy_with_logits(logit, y).item()
                    out[f"{split}/acc"] = ((logit > 0).float() == y).float().mean().item()
            return out

        def loss(model, b):
            logit = model(b[0])
            if self.bug == "sigmoid_as_logit":
                return F.binary_cross_entropy_with_logits(torch.sigmoid(logit), b[1])  # noqa: E501  BUG sigmoid_as_logit: probabilities fed to the with-logits loss
            return F.binary_cross_entropy_with_logits(logit, b[1])

        return Problem(model=model, train_size=n,
                       get_batch=lambda idx: collate([exs[i] for i in idx.tolist()], ys[idx]),
                       loss=loss, evaluate=evaluate, chance_loss=math.log(2),
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
