"""Held-out-41 family 4: a Transformer encoder-decoder (attention written out, key padding and causal masks,
sinusoidal positions) that rotates a word two letters to the left (`abcdef` -> `cdefab`), over right-padded dict
batches.

A source: 3..8 letters of twelve (uniform); the target: the word rotated left by two, then EOS. Ids (one vocabulary):
PAD 0, BOS 1, EOS 2, the letters 3..14. Torch seed 0 draws 3000 training and 500 validation words. Dict batches
{src (B, S), tgt_in (B, T), tgt (B, T)}, right-padded, in the order asked for; teacher forcing. Model: embeddings of
64 (shared, padding_idx 0) plus a fixed sinusoidal position table stored as (max_len, 1, D) (the PyTorch tutorial's
layout), added as `pe[:L].transpose(0, 1)`; one pre-norm encoder block (self-attention, PAD keys -inf) and one pre-norm
decoder block (causal self-attention with PAD keys -inf, cross-attention with source PAD keys -inf), 4 heads of 16,
scores / 4, GELU feed-forward 128, nn.LayerNorm; a final LayerNorm and Linear(64, 15). Cross-entropy with PAD ignored;
Adam at 0.001. Metrics: token loss and accuracy over non-PAD targets (train: the stage's first 400 words) and
val/exact. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "src_truncated", "enc_mask_multiplied", "dec_mask_after_softmax", "pe_batch_index",
        "normal_init_everything")
PAD, BOS, EOS, LETTERS, V = 0, 1, 2, 12, 15
MIN_LEN, MAX_LEN, SHIFT = 3, 8, 2
D, HEADS, FF, PE_LEN = 64, 4, 128, 512
N_TRAIN, N_VAL = 3000, 500


def draw(n: int, g: torch.Generator) -> list[tuple[list[int], list[int]]]:
    pairs = []
    for _ in range(n):
        w = (torch.randint(0, LETTERS, (int(torch.randint(MIN_LEN, MAX_LEN + 1, (1,), generator=g)),),
                           generator=g) + 3).tolist()
        pairs.append((w, w[SHIFT:] + w[:SHIFT] + [EOS]))
    return pairs


def make_batch(pairs: list, bug: str = "none") -> dict:
    s_w, t_w = max(len(s) for s, _ in pairs), max(len(t) for _, t in pairs)
    src, tgt_in, tgt = (torch.full((len(pairs), w), PAD) for w in (s_w, t_w, t_w))
    for i, (s, t) in enumerate(pairs):
        if bug == "src_truncated":
            s = s[:6]  # BUG src_truncated: a tokenizer's max_length=6 from another task, words have up to 8 letters
        src[i, :len(s)], tgt[i, :len(t)], tgt_in[i, :len(t)] = torch.tensor(s), torch.tensor(t), \
            torch.tensor([BOS] + t[:-1])
    return {"src": src, "tgt_in": tgt_in, "tgt": tgt}


def heads(t):  # (B, L, D) -> (B, heads, L, D / heads)
    return t.view(t.shape[0], t.shape[1], HEADS, D // HEADS).transpose(1, 2)


def merge(t):  # (B, heads, L, D / heads) -> (B, L, D)
    return t.transpose(1, 2).reshape(t.shape[0], t.shape[2], D)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.kv, self.proj = nn.Linear(D, D), nn.Linear(D, 2 * D), nn.Linear(D, D)

    def scores(self, x, mem):
        q, (k, v) = heads(self.q(x)), self.kv(mem).chunk(2, -1)
        return q @ heads(k).transpose(-1, -2) / math.sqrt(D // HEADS), heads(v)


class RotWord(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.emb = nn.Embedding(V, D, padding_idx=PAD)
        pos = torch.arange(PE_LEN).float()[:, None]
        div = torch.exp(torch.arange(0, D, 2).float() * (-math.log(10000.0) / D))
        pe = torch.zeros(PE_LEN, 1, D)
        pe[:, 0, 0::2], pe[:, 0, 1::2] = torch.sin(pos * div), torch.cos(pos * div)
        self.register_buffer("pe", pe)
        self.enc_attn, self.self_attn, self.cross_attn = Attention(), Attention(), Attention()
        self.enc_ff = nn.Sequential(nn.Linear(D, FF), nn.GELU(), nn.Linear(FF, D))
        self.dec_ff = nn.Sequential(nn.Linear(D, FF), nn.GELU(), nn.Linear(FF, D))
        self.norms = nn.ModuleList(nn.LayerNorm(D) for _ in range(7))
        self.head = nn.Linear(D, V)
        if bug == "normal_init_everything":
            [nn.init.normal_(p, std=0.02) for p in self.parameters()]  # BUG normal_init_everything: the LayerNorm gains too

    def embed(self, ids):
        x = self.emb(ids)
        if self.bug == "pe_batch_index":
            return x + self.pe[:x.size(0)]  # BUG pe_batch_index: the tutorial's sequence-first line on batch-first x
        return x + self.pe[:x.size(1)].transpose(0, 1)

    def forward(self, src, tgt_in):  # -> (B, T, V) logits
        n = self.norms
        src_pad, tgt_pad = src == PAD, tgt_in == PAD
        h = self.embed(src)
        s, v = self.enc_attn.scores(n[0](h), n[0](h))
        if self.bug == "enc_mask_multiplied":
            s = s * (~src_pad)[:, None, None, :]  # BUG enc_mask_multiplied: a 0/1 mask multiplied in, not -inf
        else:
            s = s.masked_fill(src_pad[:, None, None, :], float("-inf"))
        h = h + self.enc_attn.proj(merge(s.softmax(-1) @ v))
        mem = n[2](h + self.enc_ff(n[1](h)))

        y = self.embed(tgt_in)
        w = y.shape[1]
        blocked = torch.ones(w, w, dtype=torch.bool, device=y.device).triu(1) | tgt_pad[:, None, None, :]
        s, v = self.self_attn.scores(n[3](y), n[3](y))
        if self.bug == "dec_mask_after_softmax":
            a = s.softmax(-1).masked_fill(blocked, 0.0)  # BUG dec_mask_after_softmax: masked after the softmax
        else:
            a = s.masked_fill(blocked, float("-inf")).softmax(-1)
        y = y + self.self_attn.proj(merge(a @ v))
        s, v = self.cross_attn.scores(n[4](y), mem)
        y = y + self.cross_attn.proj(merge(s.masked_fill(src_pad[:, None, None, :], float("-inf")).softmax(-1) @ v))
        y = y + self.dec_ff(n[5](y))
        return self.head(n[6](y))


class RotWordTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "rotword")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        pairs = self.train[:n]
        model = RotWord(self.bug)
        train_eval, val_eval = make_batch(pairs[:400], self.bug), make_batch(self.val, self.bug)

        def run(model, b):
            return model(b["src"], b["tgt_in"])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    b = on_device_of(model, b)
                    out.update(sequence_metrics(split, run(model, b), b["tgt"], PAD))
            return out

        def loss(model, b):
            return F.cross_entropy(run(model, b).flatten(0, 1), b["tgt"].flatten(), ignore_index=PAD)

        return Problem(model=model, train_size=n,
                       get_batch=lambda idx: make_batch([pairs[i] for i in idx.tolist()], self.bug),
                       loss=loss, evaluate=evaluate, chance_loss=math.log(V), forward=run, targets=lambda b: b["tgt"])
