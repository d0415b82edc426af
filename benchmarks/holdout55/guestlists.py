"""Held-out-55 family 4: a Transformer encoder (post-norm, attention written out under a key padding mask) marking,
in two guest lists written one after the other, every guest who is on both lists, under Adam, over plain tuple batches.

A pair of lists: list A of 3..8 distinct guests out of 40, list B of 3..8 distinct guests, each of B's guests taken from
A with probability 0.5 (else from the others); the sequence is A, SEP, B (torch seed 0). Each guest's tag is 1 when it
is on the other list too, else 0. Ids: guests 0..39, SEP 40, PAD 41. 3000 training and 600 validation pairs. Plain
tuple batches (tokens (B, T), segments (B, T): 0 for A and SEP, 1 for B, tags (B, T) float), right-padded with PAD
(tags 0 at SEP and PAD). Model: token embedding 64 + learned positions (32) + segment embedding; two post-norm blocks
(nn.LayerNorm; four-head attention written out, padded keys at -inf; ReLU feed-forward 64-128-64); Linear(64, 1) per
position. Loss: binary cross-entropy with logits over the guests' positions (not SEP, not PAD); Adam (betas 0.9, 0.98)
at 0.001. Metrics: loss, `acc` (guests tagged right) and `exact` (every guest of the pair right), on the stage's first
500 pairs and on validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "truncated_after_tagging", "loss_mask_from_tags", "uniform_every_parameter",
        "pad_mask_wrong_id", "causal_mask_in_encoder")
GUESTS, SEP, PAD, V, D, HEADS, MAX_T, N_TRAIN, N_VAL = 40, 40, 41, 42, 64, 4, 32, 3000, 600
TRUNCATE = 12


def draw(n: int, g: torch.Generator):
    pairs = []
    for _ in range(n):
        la, lb = (int(v) for v in torch.randint(3, 9, (2,), generator=g))
        a = torch.randperm(GUESTS, generator=g)[:la].tolist()
        others = [x for x in torch.randperm(GUESTS, generator=g).tolist() if x not in a]
        from_a = [x for x in torch.randperm(la, generator=g).tolist()]
        b = []
        for _ in range(lb):
            pick_a = float(torch.rand(1, generator=g)) < 0.5 and from_a
            b.append(a[from_a.pop()] if pick_a else others.pop())
        pairs.append((a, b))
    return pairs


def make_batch(pairs: list, bug: str = "none"):
    seqs = [(a + [SEP] + b, [0] * (len(a) + 1) + [1] * len(b),
             [float(x in b) for x in a] + [0.0] + [float(x in a) for x in b]) for a, b in pairs]
    width = max(len(s[0]) for s in seqs)
    tokens, segments, tags = torch.full((len(seqs), width), PAD), torch.zeros(len(seqs), width, dtype=torch.long), \
        torch.zeros(len(seqs), width)
    for i, (t, s, y) in enumerate(seqs):
        tokens[i, :len(t)], segments[i, :len(t)], tags[i, :len(t)] = torch.tensor(t), torch.tensor(s), torch.tensor(y)
    if bug == "truncated_after_tagging":
        tokens, segments, tags = tokens[:, :TRUNCATE], segments[:, :TRUNCATE], tags[:, :TRUNCATE]  # BUG truncated_after_tagging: the collate's max_len cut applied after the tags were computed from the whole lists
    return tokens, segments, tags


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.n1, self.n2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.ff = nn.Sequential(nn.Linear(D, 2 * D), nn.ReLU(), nn.Linear(2 * D, D))

    def forward(self, x, pad):  # x (B, T, D), pad (B, T) True at PAD
        b, n, _ = x.shape
        q, k, v = (t.view(b, n, HEADS, D // HEADS).transpose(1, 2) for t in self.qkv(x).chunk(3, -1))
        scores = q @ k.transpose(-2, -1) / math.sqrt(D // HEADS)
        scores = scores.masked_fill(pad[:, None, None, :], float("-inf"))
        if self.bug == "causal_mask_in_encoder":
            scores = scores.masked_fill(torch.triu(torch.ones(n, n, dtype=torch.bool, device=x.device), 1), float("-inf"))  # BUG causal_mask_in_encoder: the decoder's causal mask left in the encoder: a guest of list A never sees list B
        att = scores.softmax(-1) @ v  # (B, H, T, dh)
        x = self.n1(x + self.proj(att.transpose(1, 2).reshape(b, n, D)))
        return self.n2(x + self.ff(x))


class GuestTagger(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.tok, self.pos, self.seg = nn.Embedding(V, D), nn.Embedding(MAX_T, D), nn.Embedding(2, D)
        self.blocks = nn.ModuleList([Block(bug), Block(bug)])
        self.out = nn.Linear(D, 1)
        if bug == "uniform_every_parameter":
            [nn.init.uniform_(p, -1.0, 1.0) for p in self.parameters()]  # BUG uniform_every_parameter: an RNN tutorial's "uniform_(p, -0.08, 0.08) for every parameter" typed as (-1, 1), LayerNorm gains and biases included

    def forward(self, tokens, segments):  # -> (B, T) logits
        if self.bug == "pad_mask_wrong_id":
            pad = tokens == 0  # BUG pad_mask_wrong_id: the padding mask written for PAD = 0, the convention elsewhere; here PAD is 41 and 0 is a guest
        else:
            pad = tokens == PAD
        x = self.tok(tokens) + self.pos(torch.arange(tokens.shape[1], device=tokens.device)) + self.seg(segments)
        for block in self.blocks:
            x = block(x, pad)
        return self.out(x).squeeze(-1)


def tag_loss(logits, tokens, tags, bug: str = "none"):
    if bug == "loss_mask_from_tags":
        scored = tags != 0  # BUG loss_mask_from_tags: the loss mask taken as "tags != 0" (the tags' padding value), which drops every real 0 tag
    else:
        scored = (tokens != PAD) & (tokens != SEP)
    return F.binary_cross_entropy_with_logits(logits[scored], tags[scored])


class GuestlistsTask:
    metrics = ("train/loss", "train/acc", "train/exact", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "guestlists")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        pairs = self.train[:n]
        model = GuestTagger(self.bug)
        bug = self.bug
        train_eval, val_eval = make_batch(pairs[:500], bug), make_batch(self.val, bug)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, batch in (("train", train_eval), ("val", val_eval)):
                    tokens, segments, tags = (on_device_of(model, t) for t in batch)
                    logits = model(tokens, segments)
                    scored = (tokens != PAD) & (tokens != SEP)
                    right = ((logits > 0).float() == tags) & scored
                    out[f"{split}/loss"] = tag_loss(logits, tokens, tags).item()
                    out[f"{split}/acc"] = right.sum().item() / scored.sum().item()
                    out[f"{split}/exact"] = (right | ~scored).all(1).float().mean().item()
            return out

        return Problem(model=model, train_size=n,
                       get_batch=lambda idx: make_batch([pairs[i] for i in idx.tolist()], bug),
                       loss=lambda model, b: tag_loss(model(b[0], b[1]), b[0], b[2], bug), evaluate=evaluate,
                       chance_loss=math.log(2), forward=lambda model, b: model(b[0], b[1]), targets=lambda b: b[2])
