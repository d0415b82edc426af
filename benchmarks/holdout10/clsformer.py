"""Held-out-10 family 1: a Transformer encoder classifier with a learned [CLS] token over variable-length sequences.

Each sequence holds 6 to 20 tokens: the "votes" 1, 2, 3 and the fillers 4..7 (0 pads); the label is the vote that
occurs most often (sequences with a tie are drawn again), 3 classes. A learned [CLS] vector is put before the
embedded tokens, learned positions are added, and two pre-LayerNorm blocks (hand-written multi-head attention, 4
heads of 16, with a key padding mask; a GELU feed-forward of 128) run over them; the final LayerNorm of the [CLS]
position goes to a linear classifier. Dict batches `tokens` (B, T), `mask` (B, T, True on real tokens), `label`,
each batch cut to its own longest sequence (as a padding collate does). Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "mask_wrong_axis", "cls_detached", "labels_of_val_seed", "causal_mask_copied")
PAD, VOTES, VOCAB = 0, 3, 8  # tokens 1..3 vote, 4..7 are fillers
MIN_LEN, MAX_LEN = 6, 20
DIM, HEADS, FF, LAYERS = 64, 4, 128, 2
TRAIN_SEED, VAL_SEED = 0, 1


def sequences(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """n sequences (tokens padded to MAX_LEN, real-token mask, label 0..2) without a tie for the commonest vote."""
    g = torch.Generator().manual_seed(seed)
    tokens, masks, labels = [], [], []
    while len(labels) < n:
        length = int(torch.randint(MIN_LEN, MAX_LEN + 1, (), generator=g))
        seq = torch.randint(1, VOCAB, (length,), generator=g)
        counts = torch.stack([(seq == v).sum() for v in range(1, VOTES + 1)])
        if (counts == counts.max()).sum() > 1:
            continue  # a tie: no single answer
        tokens.append(F.pad(seq, (0, MAX_LEN - length), value=PAD))
        masks.append(torch.arange(MAX_LEN) < length)
        labels.append(counts.argmax())
    return torch.stack(tokens), torch.stack(masks), torch.stack(labels)


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.norm1, self.norm2 = nn.LayerNorm(DIM), nn.LayerNorm(DIM)
        self.qkv, self.out = nn.Linear(DIM, 3 * DIM), nn.Linear(DIM, DIM)
        self.ff = nn.Sequential(nn.Linear(DIM, FF), nn.GELU(), nn.Linear(FF, DIM))

    def attention(self, x, keep):  # x (B, T, D), keep (B, T): True where a key may be attended to
        b, t, _ = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, HEADS, DIM // HEADS).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / math.sqrt(DIM // HEADS)  # (B, H, T queries, T keys)
        if self.bug == "mask_wrong_axis":
            scores = scores.masked_fill(~keep[:, None, :, None], float("-inf"))  # BUG mask_wrong_axis: masks queries
        else:
            scores = scores.masked_fill(~keep[:, None, None, :], float("-inf"))
        if self.bug == "causal_mask_copied":
            scores = scores.masked_fill(torch.ones(t, t).triu(1).bool(), float("-inf"))  # BUG causal_mask_copied
        return self.out((scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, DIM))

    def forward(self, x, keep):
        x = x + self.attention(self.norm1(x), keep)
        return x + self.ff(self.norm2(x))


class ClsFormer(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.embed = nn.Embedding(VOCAB, DIM, padding_idx=PAD)
        self.position = nn.Parameter(torch.randn(MAX_LEN + 1, DIM) * 0.02)
        self.cls = nn.Parameter(torch.randn(DIM) * 0.02)
        self.blocks = nn.ModuleList(Block(bug) for _ in range(LAYERS))
        self.norm = nn.LayerNorm(DIM)
        self.head = nn.Linear(DIM, VOTES)

    def forward(self, tokens, mask):  # (B, T) ids, (B, T) bool -> (B, 3) logits
        b, t = tokens.shape
        cls = self.cls
        if self.bug == "cls_detached":
            cls = self.cls.detach()  # BUG cls_detached: "a constant start vector" cut off from its gradient
        x = torch.cat([cls.expand(b, 1, DIM), self.embed(tokens)], 1) + self.position[:t + 1]
        keep = torch.cat([torch.ones(b, 1, dtype=torch.bool), mask], 1)  # [CLS] is always a key
        for block in self.blocks:
            x = block(x, keep)
        return self.head(self.norm(x[:, 0]))


def trimmed(tokens, mask, label) -> dict[str, torch.Tensor]:
    """A batch cut to its own longest sequence, as a padding collate makes it."""
    t = max(1, int(mask.sum(1).max()))
    return {"tokens": tokens[:, :t], "mask": mask[:, :t], "label": label}


class ClsFormerTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none", n_train: int = 2000, n_val: int = 1000):
        self.bug = check_bug(bug, BUGS, "clsformer")
        tokens, mask, label = sequences(n_train, TRAIN_SEED)
        if bug == "labels_of_val_seed":
            label = sequences(n_train, VAL_SEED)[2]  # BUG labels_of_val_seed: labels from the validation generator
        self.train = (tokens, mask, label)
        self.val = sequences(n_val, VAL_SEED)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.train[0]))
        train = tuple(t[:n] for t in self.train)
        model = ClsFormer(self.bug)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, data in (("train", train), ("val", self.val)):
                    batch = trimmed(*data)
                    logits = model(batch["tokens"], batch["mask"])
                    out[f"{split}/loss"] = F.cross_entropy(logits, batch["label"]).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == batch["label"]).float().mean().item()
            return out

        problem = Problem(model=model, train_size=n, get_batch=lambda idx: trimmed(*(t[idx] for t in train)),
                          loss=lambda model, batch: F.cross_entropy(model(batch["tokens"], batch["mask"]),
                                                                    batch["label"]),
                          evaluate=evaluate, chance_loss=math.log(VOTES),
                          forward=lambda model, batch: model(batch["tokens"], batch["mask"]),
                          targets=lambda batch: batch["label"])
        problem.extras["y_val"] = self.val[2]
        return problem
