"""Held-out-8 family 2: a small encoder-decoder Transformer, hand-assembled from nn.MultiheadAttention, that reverses
a digit string.

Sources are 3..8 digits, padded to 8; targets are BOS, the digits reversed, EOS, padded. Pre-LayerNorm blocks of
width 64 with 4 heads: 2 encoder blocks (self-attention under the source key-padding mask, feed-forward) and 2 decoder
blocks (self-attention under a causal mask, cross-attention to the encoder's output under a per-query source mask of
shape (B * heads, T, S), feed-forward); learned token and position embeddings. Teacher forcing for the loss; the
goal is validation token accuracy over the non-pad target positions (teacher-forced as well). The task is
deterministic, so Problem.best_loss = 0. Dict batches `src`, `tgt_in`, `tgt_out`. Each bug is one line, marked
`# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "future_visible", "pad_mask_inverted", "positions_made_in_forward", "memory_mask_repeat")
PAD, BOS, EOS, DIGIT0 = 0, 1, 2, 3
VOCAB, MIN_LEN, MAX_LEN, WIDTH, HEADS = DIGIT0 + 10, 3, 8, 64, 4
IGNORE = -100
TRAIN_SEED, VAL_SEED = 0, 1


def reversals(n: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    src = torch.full((n, MAX_LEN), PAD)
    tgt = torch.full((n, MAX_LEN + 2), PAD)
    for i, length in enumerate(torch.randint(MIN_LEN, MAX_LEN + 1, (n,), generator=g).tolist()):
        digits = DIGIT0 + torch.randint(0, 10, (length,), generator=g)
        src[i, :length] = digits
        tgt[i, :length + 2] = torch.cat([torch.tensor([BOS]), digits.flip(0), torch.tensor([EOS])])
    out = tgt[:, 1:].clone()
    out[out == PAD] = IGNORE
    return {"src": src, "tgt_in": tgt[:, :-1], "tgt_out": out}


class Block(nn.Module):
    """Pre-LayerNorm: self-attention, cross-attention (decoder only), feed-forward, each a residual branch."""

    def __init__(self, cross: bool):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(WIDTH), nn.MultiheadAttention(WIDTH, HEADS, batch_first=True)
        self.norm2 = nn.LayerNorm(WIDTH) if cross else None
        self.cross = nn.MultiheadAttention(WIDTH, HEADS, batch_first=True) if cross else None
        self.norm3 = nn.LayerNorm(WIDTH)
        self.ff = nn.Sequential(nn.Linear(WIDTH, 2 * WIDTH), nn.ReLU(), nn.Linear(2 * WIDTH, WIDTH))

    def forward(self, x, mask=None, pad=None, memory=None, memory_mask=None):
        h = self.norm1(x)
        x = x + self.attn(h, h, h, attn_mask=mask, key_padding_mask=pad)[0]
        if self.cross is not None:
            h = self.norm2(x)
            x = x + self.cross(h, memory, memory, attn_mask=memory_mask)[0]
        return x + self.ff(self.norm3(x))


class Reverser(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.tokens = nn.Embedding(VOCAB, WIDTH, padding_idx=PAD)
        self.positions = nn.Embedding(MAX_LEN + 1, WIDTH)
        self.encoder = nn.ModuleList([Block(cross=False) for _ in range(2)])
        self.decoder = nn.ModuleList([Block(cross=True) for _ in range(2)])
        self.enc_norm, self.dec_norm = nn.LayerNorm(WIDTH), nn.LayerNorm(WIDTH)
        self.head = nn.Linear(WIDTH, VOCAB)

    def embed(self, tokens):
        positions = self.positions
        if self.bug == "positions_made_in_forward":
            positions = nn.Embedding(MAX_LEN + 1, WIDTH)  # BUG positions_made_in_forward: new random table per call
        return self.tokens(tokens) + positions(torch.arange(tokens.shape[1]))

    def forward(self, src, tgt_in):  # (B, S), (B, T) -> (B, T, VOCAB)
        (B, S), T = src.shape, tgt_in.shape[1]
        src_pad = src == PAD  # True: a key no query may look at (PyTorch's convention)
        if self.bug == "pad_mask_inverted":
            src_pad = src != PAD  # BUG pad_mask_inverted: HF's convention (1 = real token) handed to PyTorch
        causal = torch.ones(T, T, dtype=torch.bool).triu(1)  # True above the diagonal: the future is hidden
        if self.bug == "future_visible":
            causal = torch.ones(T, T, dtype=torch.bool).tril(-1)  # BUG future_visible: hides the past instead
        memory_mask = src_pad[:, None, :].expand(B, T, S).repeat_interleave(HEADS, 0)  # row b * HEADS + h
        if self.bug == "memory_mask_repeat":
            # row h * B + b where MultiheadAttention reads example b's head h at row b * HEADS + h
            memory_mask = src_pad[:, None, :].expand(B, T, S).repeat(HEADS, 1, 1)  # BUG memory_mask_repeat
        memory = self.embed(src)
        for block in self.encoder:
            memory = block(memory, pad=src_pad)
        memory = self.enc_norm(memory)
        x = self.embed(tgt_in)
        for block in self.decoder:
            x = block(x, mask=causal, memory=memory, memory_mask=memory_mask)
        return self.head(self.dec_norm(x))


class XAttnTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none", n_train: int = 3000, n_val: int = 500):
        self.bug = check_bug(bug, BUGS, "xattn")
        self.train, self.val = reversals(n_train, TRAIN_SEED), reversals(n_val, VAL_SEED)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.train["src"]))
        train = {k: v[:n] for k, v in self.train.items()}
        model = Reverser(self.bug)

        def forward(model, batch):
            return model(batch["src"], batch["tgt_in"])

        def loss(model, batch):
            return F.cross_entropy(forward(model, batch).flatten(0, 1), batch["tgt_out"].flatten(), ignore_index=IGNORE)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, data in (("train", train), ("val", self.val)):
                    out.update(sequence_metrics(split, forward(model, data), data["tgt_out"], IGNORE))
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: {k: v[idx] for k, v in train.items()},
                       loss=loss, evaluate=evaluate, chance_loss=math.log(VOCAB), forward=forward,
                       targets=lambda batch: batch["tgt_out"], best_loss=0.0)
