"""Held-out-45 family 4: a decoder-only Transformer language model (attention written out, causal and key-padding
masks, hand-written LayerNorm) continuing arithmetic progressions modulo 13, over tuple batches.

A sequence: a_0 U{0..12}, a step d U{1..12}, a_i = (a_0 + i d) mod 13, 5..12 terms. Ids: PAD 0, the value v as
v + 1 (1..13). Torch seed 0 draws 3000 training and 500 validation sequences. Tuple batches (ids (B, L), targets
(B, L)), right-padded: ids the sequence but its last term, targets the next term's id and -100 at padding. Model:
token embeddings of 64 plus learnt positions (16); two pre-norm blocks (4 heads of 16, scores / 4, a key blocked
when it lies in the future or is PAD; GELU feed-forward 128); a final LayerNorm and Linear(64, 14). Cross-entropy
over the non-padded targets (the first target, a_1, cannot be predicted from a_0 alone); Adam at 0.001. Metrics:
token loss over every target and accuracy over the predictable ones (a_2 on: the step is known), on the stage's
first 400 sequences and on validation, and val/exact. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "pad_id_collides", "mask_multiplied", "norm_over_time", "head_tied_unscaled")
PAD, MOD, V, IGNORE = 0, 13, 14, -100
MIN_LEN, MAX_LEN, D, HEADS, FF, MAX_POS = 5, 12, 64, 4, 128, 16
N_TRAIN, N_VAL = 3000, 500


def draw(n: int, g: torch.Generator) -> list[list[int]]:
    out = []
    for _ in range(n):
        a0, d = int(torch.randint(0, MOD, (1,), generator=g)), int(torch.randint(1, MOD, (1,), generator=g))
        out.append([(a0 + i * d) % MOD for i in range(int(torch.randint(MIN_LEN, MAX_LEN + 1, (1,), generator=g)))])
    return out


def make_batch(seqs: list, bug: str = "none") -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in seqs) - 1
    ids, targets = torch.full((len(seqs), width), PAD), torch.full((len(seqs), width), PAD)
    for i, s in enumerate(seqs):
        if bug == "pad_id_collides":
            tok = torch.tensor(s)  # BUG pad_id_collides: values used as ids, so the value 0 is the PAD id
        else:
            tok = torch.tensor(s) + 1
        ids[i, :len(s) - 1], targets[i, :len(s) - 1] = tok[:-1], tok[1:]
    return ids, targets.masked_fill(targets == PAD, IGNORE)


def predictable(seqs: list, width: int) -> torch.Tensor:
    """True at the targets a_2 on, whatever the ids: the accuracy's positions."""
    keep = torch.zeros(len(seqs), width, dtype=torch.bool)
    for i, s in enumerate(seqs):
        keep[i, 1:len(s) - 1] = True
    return keep


class LayerNorm(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug, self.g, self.b = bug, nn.Parameter(torch.ones(D)), nn.Parameter(torch.zeros(D))

    def forward(self, x):  # (B, L, D)
        if self.bug == "norm_over_time":
            mu, var = x.mean(1, keepdim=True), x.var(1, keepdim=True, unbiased=False)  # BUG norm_over_time: dim 1 is the sequence, not the features
        else:
            mu, var = x.mean(-1, keepdim=True), x.var(-1, keepdim=True, unbiased=False)
        return (x - mu) / torch.sqrt(var + 1e-5) * self.g + self.b


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.n1, self.n2 = LayerNorm(bug), LayerNorm(bug)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.ff = nn.Sequential(nn.Linear(D, FF), nn.GELU(), nn.Linear(FF, D))

    def forward(self, x, blocked):  # (B, L, D), (B, 1, L, L) True where a query may not read a key
        b, l, _ = x.shape
        q, k, v = (t.view(b, l, HEADS, D // HEADS).transpose(1, 2) for t in self.qkv(self.n1(x)).chunk(3, -1))
        s = q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)
        if self.bug == "mask_multiplied":
            s = s * ~blocked  # BUG mask_multiplied: blocked scores set to 0, not -inf: the future still gets weight
        else:
            s = s.masked_fill(blocked, float("-inf"))
        x = x + self.proj((s.softmax(-1) @ v).transpose(1, 2).reshape(b, l, D))
        return x + self.ff(self.n2(x))


class ProgressionLM(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.emb, self.pos = nn.Embedding(V, D), nn.Embedding(MAX_POS, D)
        self.blocks = nn.ModuleList(Block(bug) for _ in range(2))
        self.norm, self.head = LayerNorm(bug), nn.Linear(D, V)
        if bug == "head_tied_unscaled":
            self.head.weight = self.emb.weight  # BUG head_tied_unscaled: tied to an embedding left at N(0, 1)

    def forward(self, ids):  # (B, L) -> (B, L, V)
        b, l = ids.shape
        future = torch.ones(l, l, dtype=torch.bool, device=ids.device).triu(1)
        blocked = future[None, None] | (ids == PAD)[:, None, None, :]
        h = self.emb(ids) + self.pos(torch.arange(l, device=ids.device))
        for block in self.blocks:
            h = block(h, blocked)
        return self.head(self.norm(h))


class ProgressionTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "progression")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        seqs, bug = self.train[:n], self.bug
        model = ProgressionLM(bug)
        evals = []
        for split, ss in (("train", seqs[:400]), ("val", self.val)):
            ids, targets = make_batch(ss, bug)
            truth = make_batch(ss)[1]  # the true next ids, whatever the bug did to the batch's
            evals.append((split, ids, targets, truth, predictable(ss, ids.shape[1])))

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, ids, targets, truth, keep in evals:
                    ids, targets, truth, keep = (on_device_of(model, t) for t in (ids, targets, truth, keep))
                    logits = model(ids)
                    pred = logits.argmax(-1) - (1 if bug != "pad_id_collides" else 0)  # the predicted value
                    right = (pred == truth - 1) | ~keep
                    out[f"{split}/loss"] = F.cross_entropy(logits.flatten(0, 1), targets.flatten(),
                                                           ignore_index=IGNORE).item()
                    out[f"{split}/acc"] = ((right & keep).sum() / keep.sum()).item()
                    if split == "val":
                        out["val/exact"] = right.all(1).float().mean().item()
            return out

        def loss(model, b):
            ids, targets = b
            return F.cross_entropy(model(ids).flatten(0, 1), targets.flatten(), ignore_index=IGNORE)

        return Problem(model=model, train_size=n, get_batch=lambda idx: make_batch([seqs[i] for i in idx.tolist()], bug),
                       loss=loss, evaluate=evaluate, chance_loss=math.log(MOD))
