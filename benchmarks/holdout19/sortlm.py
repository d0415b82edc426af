"""Held-out-19 family 4: a decoder-only Transformer LM with hand-written multi-head attention on left-padded batches.

Each sequence is a prompt of 3..8 digits, SEP, the same digits sorted ascending, then EOS (ids: 0 PAD, 1 SEP,
2 EOS, digits from 3). A batch is left-padded (the real tokens end together): the inputs are the sequence but
its last token (`tokens`), the labels the sequence but its first token with every label up to and including the
prompt's last digit set to PAD (the loss and metrics score the sorted part and EOS only). Model (pre-LN, d 64, 4
heads, feed-forward 256, 2 blocks, no dropout): a token embedding (N(0, 0.02^2)) tied to the output head, learned
positions counted from each sequence's first real token (cumsum of the padding mask - 1), hand-written attention:
one qkv linear, heads split by view(B, T, H, dh).transpose(1, 2), scores q k^T / sqrt(dh), a blocked mask = the
causal mask (triu(1)) OR the key padding mask, filled with -1e9, softmax over the keys, an output projection; a
final LayerNorm. Loss: cross-entropy over the labels, PAD ignored. Adam at 0.001. Tuple batches (tokens, labels).
Metrics: teacher-forced token accuracy and loss over the labelled positions; goal: validation token accuracy.
Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "mask_and_for_or", "heads_split_by_view", "embedding_std_1", "labels_unshifted")
PAD, SEP, EOS, DIGITS = 0, 1, 2, 10
VOCAB = DIGITS + 3
MIN_LEN, MAX_LEN, D, HEADS, FF, LAYERS = 3, 8, 64, 4, 256, 2
DATA_SEED, N_TRAIN, N_VAL = 0, 3000, 400


def examples(n: int, g: torch.Generator) -> list[torch.Tensor]:
    out = []
    for _ in range(n):
        length = int(torch.randint(MIN_LEN, MAX_LEN + 1, (1,), generator=g))
        prompt = torch.randint(DIGITS, (length,), generator=g) + 3
        out.append(torch.cat([prompt, torch.tensor([SEP]), prompt.sort().values, torch.tensor([EOS])]))
    return out


def make_batch(seqs: list[torch.Tensor], bug: str) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in seqs) - 1
    tokens = torch.full((len(seqs), width), PAD)
    labels = torch.full((len(seqs), width), PAD)
    for i, s in enumerate(seqs):
        n = len(s) - 1
        tokens[i, width - n:] = s[:-1]
        target = s[1:].clone()
        if bug == "labels_unshifted":
            target = s[:-1].clone()  # BUG labels_unshifted: the labels sliced like the inputs (not shifted by one)
        target[:(n - 1) // 2] = PAD  # the prompt's digits are not predictable: unscored
        labels[i, width - n:] = target
    return tokens, labels


class Attention(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)

    def forward(self, x, pad):  # x (B, T, D), pad (B, T) True at padding
        b, t, _ = x.shape
        q, k, v = self.qkv(x).split(D, -1)
        q, k, v = (z.view(b, t, HEADS, D // HEADS).transpose(1, 2) for z in (q, k, v))
        if self.bug == "heads_split_by_view":
            q, k, v = (z.reshape(b, HEADS, t, D // HEADS) for z in self.qkv(x).split(D, -1))  # noqa: E501  BUG heads_split_by_view: heads split by a reshape to (B, H, T, dh), mixing positions
        scores = q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)                        # (B, H, T, T)
        causal = torch.triu(torch.ones(t, t, dtype=torch.bool), 1)
        blocked = causal | pad[:, None, None, :]
        if self.bug == "mask_and_for_or":
            blocked = causal & pad[:, None, None, :]  # noqa: E501  BUG mask_and_for_or: the causal and padding masks joined with & instead of |
        weights = scores.masked_fill(blocked, -1e9).softmax(-1)
        return self.proj((weights @ v).transpose(1, 2).reshape(b, t, D))


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.attn = Attention(bug)
        self.ff = nn.Sequential(nn.Linear(D, FF), nn.GELU(), nn.Linear(FF, D))

    def forward(self, x, pad):
        x = x + self.attn(self.norm1(x), pad)
        return x + self.ff(self.norm2(x))


class SortLM(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.embed, self.pos = nn.Embedding(VOCAB, D), nn.Embedding(2 * MAX_LEN + 1, D)
        nn.init.normal_(self.embed.weight, std=0.02)
        if bug == "embedding_std_1":
            nn.init.normal_(self.embed.weight, std=1.0)  # noqa: E501  BUG embedding_std_1: the tied embedding drawn with std 1 (PyTorch's default) for 0.02
        nn.init.normal_(self.pos.weight, std=0.02)
        self.blocks = nn.ModuleList(Block(bug) for _ in range(LAYERS))
        self.norm = nn.LayerNorm(D)

    def forward(self, tokens):  # (B, T) -> (B, T, VOCAB)
        pad = tokens == PAD
        positions = ((~pad).long().cumsum(1) - 1).clamp(min=0)
        x = self.embed(tokens) + self.pos(positions)
        for block in self.blocks:
            x = block(x, pad)
        return self.norm(x) @ self.embed.weight.T


class SortLMTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "sortlm")
        g = torch.Generator().manual_seed(DATA_SEED)
        self.train, self.val = examples(N_TRAIN, g), examples(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        seqs = self.train[:n]
        model = SortLM(self.bug)
        train_eval, val_eval = make_batch(seqs[:400], self.bug), make_batch(self.val, self.bug)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (tokens, labels) in (("train", train_eval), ("val", val_eval)):
                    out.update(sequence_metrics(split, model(tokens), labels, PAD))
            return out

        def get_batch(idx):
            return make_batch([seqs[i] for i in idx.tolist()], self.bug)

        def loss(model, b):
            return F.cross_entropy(model(b[0]).flatten(0, 1), b[1].flatten(), ignore_index=PAD)

        return Problem(model=model, train_size=n, get_batch=get_batch, loss=loss, evaluate=evaluate,
                       chance_loss=math.log(VOCAB), forward=lambda model, b: model(b[0]),
                       targets=lambda b: b[1])
