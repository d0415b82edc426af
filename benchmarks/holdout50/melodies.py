"""Held-out-50 family 4: a Transformer encoder (nn.MultiheadAttention under a key padding mask, a hand-written
LayerNorm, masked mean pooling) naming the major key of a melody, over right-padded dataclass batches.

A melody: a key k in 0..11 (uniform); 8..16 notes, each of the seven pitch classes of k's major scale at least once
(the rest drawn from the scale), each in one of three octaves, in random order. Ids: PAD 0, a pitch p in 0..35 is
p + 1. Torch seed 0 draws 3000 training and 600 validation melodies. Dataclass batches Tune(notes (B, L), key (B,)),
right-padded to the batch's longest. Model: token embeddings of 64 (padding_idx 0) plus learnt positions (16); two
pre-norm blocks (nn.MultiheadAttention, 4 heads, batch_first, key_padding_mask True at PAD; a ReLU feed-forward 128),
the LayerNorm written out (mean and variance over the features); a final norm; the mean over the real positions;
Linear(64, 12). Loss: cross-entropy; Adam at 0.001. Metrics: loss and accuracy on the stage's first 500 melodies and
on validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "keys_shifted_by_one", "ignore_index_pad", "padding_mask_inverted", "norm_over_positions")
PAD, V, D, HEADS, FF, KEYS = 0, 37, 64, 4, 128, 12
MIN_LEN, MAX_LEN, N_TRAIN, N_VAL = 8, 16, 3000, 600
SCALE = (0, 2, 4, 5, 7, 9, 11)


@dataclass
class Tune:
    notes: torch.Tensor  # (B, L) ids, PAD 0
    key: torch.Tensor    # (B,) 0..11


def draw(n: int, g: torch.Generator, bug: str = "none"):
    melodies, keys = [], torch.randint(0, KEYS, (n,), generator=g)
    for i in range(n):
        length = int(torch.randint(MIN_LEN, MAX_LEN + 1, (1,), generator=g))
        degrees = list(range(7)) + torch.randint(0, 7, (length - 7,), generator=g).tolist()
        degrees = [degrees[j] for j in torch.randperm(length, generator=g).tolist()]
        octaves = torch.randint(0, 3, (length,), generator=g).tolist()
        melodies.append([(SCALE[d] + int(keys[i])) % 12 + 12 * o + 1 for d, o in zip(degrees, octaves)])
    if bug == "keys_shifted_by_one":
        keys = keys.roll(1)  # BUG keys_shifted_by_one: the key column read one row off (each melody gets the previous one's key)
    return melodies, keys


def make_batch(melodies: list, keys: torch.Tensor) -> Tune:
    notes = torch.full((len(melodies), max(len(m) for m in melodies)), PAD)
    for i, m in enumerate(melodies):
        notes[i, :len(m)] = torch.tensor(m)
    return Tune(notes, keys)


class Norm(nn.Module):
    """LayerNorm written out: over the features of each position."""

    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.gain, self.bias = nn.Parameter(torch.ones(D)), nn.Parameter(torch.zeros(D))

    def forward(self, x):  # (B, L, D)
        dim = 1 if self.bug == "norm_over_positions" else -1  # BUG norm_over_positions: statistics over the positions (dim 1), not the features
        mean, var = x.mean(dim, keepdim=True), x.var(dim, keepdim=True, unbiased=False)
        return (x - mean) / torch.sqrt(var + 1e-5) * self.gain + self.bias


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.n1, self.n2 = Norm(bug), Norm(bug)
        self.attn = nn.MultiheadAttention(D, HEADS, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(D, FF), nn.ReLU(), nn.Linear(FF, D))

    def forward(self, x, pad):
        h = self.n1(x)
        x = x + self.attn(h, h, h, key_padding_mask=pad, need_weights=False)[0]
        return x + self.ff(self.n2(x))


class KeyFinder(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.emb, self.pos = nn.Embedding(V, D, padding_idx=PAD), nn.Embedding(MAX_LEN, D)
        self.blocks = nn.ModuleList(Block(bug) for _ in range(2))
        self.norm, self.head = Norm(bug), nn.Linear(D, KEYS)

    def forward(self, notes):  # (B, L) -> (B, 12) logits
        real = notes != PAD
        if self.bug == "padding_mask_inverted":
            pad = notes != PAD  # BUG padding_mask_inverted: True marks the keys to *ignore*; this hides the real notes
        else:
            pad = notes == PAD
        h = self.emb(notes) + self.pos(torch.arange(notes.shape[1], device=notes.device))
        for block in self.blocks:
            h = block(h, pad)
        h = self.norm(h)
        pooled = (h * real.unsqueeze(-1)).sum(1) / real.sum(1, keepdim=True)
        return self.head(pooled)


def key_loss(logits, key, bug: str = "none"):
    if bug == "ignore_index_pad":
        return F.cross_entropy(logits, key, ignore_index=PAD)  # BUG ignore_index_pad: ignore_index=PAD copied from token-level code; key 0 (C major) is PAD's id, never taught
    return F.cross_entropy(logits, key)


class MelodiesTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "melodies")
        g = torch.Generator().manual_seed(0)
        (self.train, self.k_train), (self.val, self.k_val) = draw(N_TRAIN, g, bug), draw(N_VAL, g, bug)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        melodies, keys = self.train[:n], self.k_train[:n]
        model = KeyFinder(self.bug)
        bug = self.bug
        train_eval, val_eval = make_batch(melodies[:500], keys[:500]), make_batch(self.val, self.k_val)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    notes, key = on_device_of(model, b.notes), on_device_of(model, b.key)
                    logits = model(notes)
                    out[f"{split}/loss"] = F.cross_entropy(logits, key).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == key).float().mean().item()
            return out

        return Problem(model=model, train_size=n,
                       get_batch=lambda idx: make_batch([melodies[i] for i in idx.tolist()], keys[idx]),
                       loss=lambda model, b: key_loss(model(b.notes), b.key, bug), evaluate=evaluate,
                       chance_loss=math.log(KEYS), forward=lambda model, b: model(b.notes),
                       targets=lambda b: b.key)
