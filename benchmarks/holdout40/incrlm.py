"""Held-out-40 family 4: a decoder-only Transformer (causal and key padding masks, attention written out) that
continues a prompt with its letters each moved one step on in the alphabet (`b d a |` -> `c e b <eos>`), over
right-padded batches.

A sequence: BOS, a prompt of 3..8 letters of eight (uniform), SEP, the prompt's letters each + 1 (mod 8), EOS. Ids:
PAD 0, BOS 1, SEP 2, EOS 3, the letters 4..11. Inputs: the sequence but its last token; targets: the sequence but its
first, IGNORE (-100) up to the SEP (the prompt is random: only the answer and EOS are scored) and at the padding.
Torch seed 0 draws 3000 training and 500 validation sequences. Dict batches {x (B, L), y (B, L)}, right-padded, in the
order asked for. Model: token embeddings of 64 (padding_idx 0) plus a learnt position; 2 pre-norm blocks (nn.LayerNorm;
one Linear to q, k, v, 4 heads of 16, scores / 4, future keys and PAD keys -inf, softmax over the keys; feed-forward
128 with GELU); a final LayerNorm and Linear(64, 12). Cross-entropy with IGNORE ignored; Adam at 0.002. Metrics: token
loss and accuracy over the scored positions (train: the stage's first 400 sequences) and val/exact. Each bug is one
line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "causal_mask_missing", "pad_mask_on_queries", "heads_reshape_no_transpose", "block_init_std_1",
        "block1_detached")
PAD, BOS, SEP, EOS, IGNORE = 0, 1, 2, 3, -100
LETTERS, V, MAX_P = 8, 12, 8
D, HEADS, FF, LAYERS, MAX_L = 64, 4, 128, 2, 2 * MAX_P + 2
N_TRAIN, N_VAL = 3000, 500


def draw(n: int, g: torch.Generator) -> list[list[int]]:
    seqs = []
    for _ in range(n):
        p = torch.randint(0, LETTERS, (int(torch.randint(3, MAX_P + 1, (1,), generator=g)),), generator=g)
        seqs.append([BOS] + (p + 4).tolist() + [SEP] + ((p + 1) % LETTERS + 4).tolist() + [EOS])
    return seqs


def make_batch(seqs: list) -> dict:
    w = max(len(s) for s in seqs) - 1
    x, y = torch.full((len(seqs), w), PAD), torch.full((len(seqs), w), IGNORE)
    for i, s in enumerate(seqs):
        k = s.index(SEP)
        x[i, :len(s) - 1] = torch.tensor(s[:-1])
        y[i, k:len(s) - 1] = torch.tensor(s[k + 1:])
    return {"x": x, "y": y}


class Norm(nn.Module):
    """LayerNorm written out (the model's own, with a gain and a bias)."""

    def __init__(self, bug: str):
        super().__init__()
        self.bug, self.g, self.b = bug, nn.Parameter(torch.ones(D)), nn.Parameter(torch.zeros(D))

    def forward(self, h):  # (B, L, D)
        mu, var = h.mean(-1, keepdim=True), h.var(-1, keepdim=True, unbiased=False)
        return (h - mu) / torch.sqrt(var + 1e-5) * self.g + self.b


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.norm1, self.norm2 = Norm(bug), Norm(bug)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.ff1, self.ff2 = nn.Linear(D, FF), nn.Linear(FF, D)
        if bug == "block_init_std_1":
            [nn.init.normal_(m.weight, std=1.0) for m in (self.qkv, self.proj, self.ff1, self.ff2)]  # BUG block_init_std_1

    def forward(self, h, pad):  # (B, L, D), (B, L) True at PAD
        b, w, _ = h.shape
        q, k, v = self.qkv(self.norm1(h)).view(b, w, 3, HEADS, D // HEADS).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)  # (B, heads, L, L)
        future = torch.ones(w, w, dtype=torch.bool, device=h.device).triu(1)
        if self.bug == "causal_mask_missing":
            future = torch.zeros_like(future)  # BUG causal_mask_missing: the is_causal step forgotten
        if self.bug == "pad_mask_on_queries":
            keys_out = pad[:, None, :, None]  # BUG pad_mask_on_queries: the PAD rows masked, not the PAD columns
        else:
            keys_out = pad[:, None, None, :]
        scores = scores.masked_fill(future | keys_out, float("-inf"))
        if self.bug == "heads_reshape_no_transpose":
            h = h + self.proj((scores.softmax(-1) @ v).reshape(b, w, D))  # BUG heads_reshape_no_transpose
        else:
            h = h + self.proj((scores.softmax(-1) @ v).transpose(1, 2).reshape(b, w, D))
        return h + self.ff2(F.gelu(self.ff1(self.norm2(h))))


class IncrLM(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.tok, self.pos = nn.Embedding(V, D, padding_idx=PAD), nn.Embedding(MAX_L, D)
        self.blocks = nn.ModuleList(Block(bug) for _ in range(LAYERS))
        self.norm, self.head = Norm(bug), nn.Linear(D, V)

    def forward(self, x):  # (B, L) right-padded ids -> (B, L, V) logits
        pad = x == PAD
        h = self.tok(x) + self.pos(torch.arange(x.shape[1], device=x.device))
        for i, block in enumerate(self.blocks):
            h = block(h, pad)
            if i == 0 and self.bug == "block1_detached":
                h = h.detach()  # BUG block1_detached: a truncated-backprop habit, cuts off block 1 and the embeddings
        return self.head(self.norm(h))


class IncrLMTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "incrlm")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        seqs = self.train[:n]
        model = IncrLM(self.bug)
        train_eval, val_eval = make_batch(seqs[:400]), make_batch(self.val)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    b = on_device_of(model, b)
                    out.update(sequence_metrics(split, model(b["x"]), b["y"], IGNORE))
            return out

        def loss(model, b):
            return F.cross_entropy(model(b["x"]).flatten(0, 1), b["y"].flatten(), ignore_index=IGNORE)

        return Problem(model=model, train_size=n, get_batch=lambda idx: make_batch([seqs[i] for i in idx.tolist()]),
                       loss=loss, evaluate=evaluate, chance_loss=math.log(V), forward=lambda model, b: model(b["x"]),
                       targets=lambda b: b["y"])
