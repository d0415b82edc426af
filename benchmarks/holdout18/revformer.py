"""Held-out-18 family 4: a Transformer encoder-decoder (nn.MultiheadAttention, padding and causal masks) that
reverses digit strings.

Each example is 3..9 digits (uniform length and digits); the target is the digits in reverse order, then EOS.
Ids: 0 PAD, 1 BOS, 2 EOS, digits from 3. Batches: the sources right-padded (`src`), the decoder input BOS + the
target but its last token (`tgt_in`) and the target (`tgt`), right-padded. Model (d 64, 4 heads, feed-forward
128, post-LN as in "Attention is all you need", no dropout): a shared token embedding x sqrt(d) plus learned
positions; two encoder layers (self-attention with the source key padding mask); two decoder layers (causal
self-attention: a boolean attn_mask, True where a query may NOT look, with the target key padding mask; cross
attention with the source key padding mask as memory_key_padding_mask); a linear head. Loss: cross-entropy over
the targets, PAD ignored. Adam at 0.001. Dict batches {src, tgt_in, tgt}. Metrics: teacher-forced token accuracy
and loss over non-PAD positions; goal: validation token accuracy.
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

BUGS = ("none", "causal_mask_tril", "memory_mask_dropped", "layers_in_list")
PAD, BOS, EOS, DIGITS = 0, 1, 2, 10
VOCAB = DIGITS + 3
MIN_LEN, MAX_LEN, D, HEADS, FF, LAYERS = 3, 9, 64, 4, 128, 2
DATA_SEED, N_TRAIN, N_VAL = 0, 2000, 300


def examples(n: int, g: torch.Generator):
    sources, targets = [], []
    for _ in range(n):
        length = int(torch.randint(MIN_LEN, MAX_LEN + 1, (1,), generator=g))
        src = torch.randint(DIGITS, (length,), generator=g) + 3
        sources.append(src)
        targets.append(torch.cat([src.flip(0), torch.tensor([EOS])]))
    return sources, targets


def make_batch(sources: list[torch.Tensor], targets: list[torch.Tensor]) -> dict:
    src = nn.utils.rnn.pad_sequence(sources, batch_first=True, padding_value=PAD)
    tgt = nn.utils.rnn.pad_sequence(targets, batch_first=True, padding_value=PAD)
    tgt_in = torch.cat([torch.full((len(tgt), 1), BOS), tgt[:, :-1]], 1)
    return {"src": src, "tgt_in": tgt_in, "tgt": tgt}


class EncoderLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(D, HEADS, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(D, FF), nn.ReLU(), nn.Linear(FF, D))
        self.norm1, self.norm2 = nn.LayerNorm(D), nn.LayerNorm(D)

    def forward(self, h, pad):
        h = self.norm1(h + self.attn(h, h, h, key_padding_mask=pad, need_weights=False)[0])
        return self.norm2(h + self.ff(h))


class DecoderLayer(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.self_attn = nn.MultiheadAttention(D, HEADS, batch_first=True)
        self.cross = nn.MultiheadAttention(D, HEADS, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(D, FF), nn.ReLU(), nn.Linear(FF, D))
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(D), nn.LayerNorm(D), nn.LayerNorm(D)

    def forward(self, h, memory, causal, tgt_pad, src_pad):
        h = self.norm1(h + self.self_attn(h, h, h, attn_mask=causal, key_padding_mask=tgt_pad, need_weights=False)[0])
        memory_pad = src_pad
        if self.bug == "memory_mask_dropped":
            memory_pad = None  # BUG memory_mask_dropped: the cross attention called without the source padding mask
        h = self.norm2(h + self.cross(h, memory, memory, key_padding_mask=memory_pad, need_weights=False)[0])
        return self.norm3(h + self.ff(h))


class RevFormer(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.embed, self.pos = nn.Embedding(VOCAB, D, padding_idx=PAD), nn.Embedding(MAX_LEN + 1, D)
        nn.init.normal_(self.embed.weight, std=D ** -0.5)
        encoder = nn.ModuleList(EncoderLayer() for _ in range(LAYERS))
        if bug == "layers_in_list":
            encoder = [EncoderLayer() for _ in range(LAYERS)]  # BUG layers_in_list: a plain list, not an nn.ModuleList
        self.encoder = encoder
        self.decoder = nn.ModuleList(DecoderLayer(bug) for _ in range(LAYERS))
        self.head = nn.Linear(D, VOCAB)

    def embed_positions(self, tokens):
        return self.embed(tokens) * math.sqrt(D) + self.pos(torch.arange(tokens.shape[1]))

    def forward(self, src, tgt_in):  # -> (B, T, VOCAB)
        src_pad, tgt_pad = src == PAD, tgt_in == PAD
        t = tgt_in.shape[1]
        causal = torch.triu(torch.ones(t, t, dtype=torch.bool), 1)
        if self.bug == "causal_mask_tril":
            causal = torch.tril(torch.ones(t, t, dtype=torch.bool))  # BUG causal_mask_tril: True read as "may look"
        memory = self.embed_positions(src)
        for layer in self.encoder:
            memory = layer(memory, src_pad)
        h = self.embed_positions(tgt_in)
        for layer in self.decoder:
            h = layer(h, memory, causal, tgt_pad, src_pad)
        return self.head(h)


class RevFormerTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "revformer")
        g = torch.Generator().manual_seed(DATA_SEED)
        self.train, self.val = examples(N_TRAIN, g), examples(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        sources, targets = self.train[0][:n], self.train[1][:n]
        model = RevFormer(self.bug)
        train_eval, val_eval = make_batch(sources[:300], targets[:300]), make_batch(*self.val)

        def forward(model, b):
            return model(b["src"], b["tgt_in"])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    out.update(sequence_metrics(split, forward(model, b), b["tgt"], PAD))
            return out

        def get_batch(idx):
            return make_batch([sources[i] for i in idx.tolist()], [targets[i] for i in idx.tolist()])

        return Problem(model=model, train_size=n, get_batch=get_batch,
                       loss=lambda model, b: F.cross_entropy(forward(model, b).flatten(0, 1), b["tgt"].flatten(),
                                                             ignore_index=PAD),
                       evaluate=evaluate, chance_loss=math.log(VOCAB), forward=forward, targets=lambda b: b["tgt"])
