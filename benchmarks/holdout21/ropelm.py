"""Held-out-21 family 1: a decoder-only Transformer LM with hand-written rotary position embeddings (RoPE).

The generated language copies a word: BOS, n distinct letters (n 4..8, of 16), SEP, the same n letters, EOS
(torch seed 0; 3000 training, 400 validation sequences), right-padded. The LM reads the sequence but its last token
and predicts the next one; the loss reads the answer only (the copied letters and EOS; the prompt's targets and the
padding are -100, ignored). Model (pre-LN, d 64, 4 heads, feed-forward 128, 2 blocks, no dropout, no learned
positions): a token embedding; hand-written attention: one qkv linear, heads by view(B, T, H, dh).transpose(1, 2),
RoPE on q and k (rotate-half form, base 10000, position ids from the padding mask, `cumsum(-1) - 1` as
Hugging Face does), scores q k^T / sqrt(dh), masked_fill(-inf) above the diagonal, a softmax over the keys, an
output projection; a final LayerNorm and a linear to the vocabulary. Loss: cross-entropy, -100 ignored. Adam at 0.003.
Tuple batches (tokens, targets). Metrics: loss and accuracy over the answer positions; goal: validation accuracy.
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

BUGS = ("none", "rope_positions_cumsum_batch", "causal_fill_not_assigned", "ignore_index_pad_id")
PAD, BOS, SEP, EOS, LETTERS = 0, 1, 2, 3, 16
VOCAB = 4 + LETTERS
IGNORE = -100
MIN_N, MAX_N, D, HEADS, FF, LAYERS = 4, 8, 64, 4, 128, 2
DATA_SEED, N_TRAIN, N_VAL = 0, 3000, 400


def examples(n: int, g: torch.Generator) -> list[torch.Tensor]:
    out = []
    for _ in range(n):
        k = int(torch.randint(MIN_N, MAX_N + 1, (1,), generator=g))
        word = torch.randperm(LETTERS, generator=g)[:k] + 4
        out.append(torch.cat([torch.tensor([BOS]), word, torch.tensor([SEP]), word, torch.tensor([EOS])]))
    return out


def make_batch(seqs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in seqs) - 1
    tokens, targets = torch.full((len(seqs), width), PAD), torch.full((len(seqs), width), IGNORE)
    for i, s in enumerate(seqs):
        k = (len(s) - 3) // 2
        tokens[i, :len(s) - 1] = s[:-1]
        targets[i, k + 1:len(s) - 1] = s[k + 2:]  # from SEP on: the copied letters and EOS
    return tokens, targets


def rotate_half(x):
    a, b = x.chunk(2, -1)
    return torch.cat([-b, a], -1)


class RopeAttention(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        dh = D // HEADS
        self.register_buffer("inv_freq", 1.0 / 10000 ** (torch.arange(0, dh, 2).float() / dh))

    def forward(self, x, pos):  # x (B, T, D), pos (B, T) position ids
        b, t, _ = x.shape
        q, k, v = (z.view(b, t, HEADS, D // HEADS).transpose(1, 2) for z in self.qkv(x).split(D, -1))
        angles = pos[:, None, :, None].float() * self.inv_freq          # (B, 1, T, dh/2)
        cos, sin = torch.cat([angles, angles], -1).cos(), torch.cat([angles, angles], -1).sin()
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        scores = q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)        # (B, H, T, T)
        future = torch.triu(torch.ones(t, t, dtype=torch.bool, device=x.device), diagonal=1)
        if self.bug == "causal_fill_not_assigned":
            scores.masked_fill(future, float("-inf"))  # BUG causal_fill_not_assigned: the result is thrown away
        else:
            scores = scores.masked_fill(future, float("-inf"))
        return self.proj((scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, D))


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.attn = RopeAttention(bug)
        self.ff = nn.Sequential(nn.Linear(D, FF), nn.GELU(), nn.Linear(FF, D))

    def forward(self, x, pos):
        x = x + self.attn(self.norm1(x), pos)
        return x + self.ff(self.norm2(x))


class RopeLM(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.embed = nn.Embedding(VOCAB, D)
        self.blocks = nn.ModuleList(Block(bug) for _ in range(LAYERS))
        self.norm, self.head = nn.LayerNorm(D), nn.Linear(D, VOCAB)

    def forward(self, tokens):  # (B, T) -> (B, T, VOCAB)
        real = (tokens != PAD).long()
        pos = (real.cumsum(-1) - 1).clamp(min=0)
        if self.bug == "rope_positions_cumsum_batch":
            pos = (real.cumsum(0) - 1).clamp(min=0)  # BUG rope_positions_cumsum_batch: cumsum over the batch
        x = self.embed(tokens)
        for block in self.blocks:
            x = block(x, pos)
        return self.head(self.norm(x))


class RopeLMTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "ropelm")
        g = torch.Generator().manual_seed(DATA_SEED)
        self.train, self.val = examples(N_TRAIN, g), examples(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        seqs = self.train[:n]
        model = RopeLM(self.bug)
        train_eval, val_eval = make_batch(seqs[:400]), make_batch(self.val)
        ignore = PAD if self.bug == "ignore_index_pad_id" else IGNORE  # noqa: E501  BUG ignore_index_pad_id: ignores PAD's id, the targets' padding is -100

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (tokens, targets) in (("train", train_eval), ("val", val_eval)):
                    out.update(sequence_metrics(split, model(tokens), targets, IGNORE))
            return out

        def loss(model, b):
            return F.cross_entropy(model(b[0]).flatten(0, 1), b[1].flatten(), ignore_index=ignore)

        return Problem(model=model, train_size=n, get_batch=lambda idx: make_batch([seqs[i] for i in idx.tolist()]),
                       loss=loss, evaluate=evaluate, chance_loss=math.log(VOCAB),
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
