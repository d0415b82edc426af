"""Held-out-15 family 4: a decoder-only Transformer with a prefix-LM mask, sorting its prefix.

Each example is 3..7 distinct symbols out of 12 (the prefix), then SEP, then the same symbols sorted (the
continuation). Ids: 0 PAD, 1 SEP, symbols from 2. A batch holds the prefixes left-padded to the batch's longest
(`prefix`), the decoder input SEP + the continuation but its last symbol (`tgt_in`) and the continuation
(`tgt`), both right-padded; the model reads prefix + tgt_in as one sequence. Positions count real tokens only
(so padding never moves them); learned positions and token embeddings (std 0.02). Mask (boolean, True = may
attend): every key in the prefix columns (bidirectional over the prefix), earlier-or-same keys elsewhere (causal
over SEP and the continuation), never a padding
key. Two pre-LN blocks (4 heads over d 64 with a fused bias-free q/k/v projection and
F.scaled_dot_product_attention, feed-forward 256 with GELU), a final LayerNorm, a linear output. Trained only on
the continuation: cross-entropy over `tgt`, padding ignored. Adam at 0.001. Dict batches {prefix, tgt_in, tgt}.
Metrics: teacher-forced token accuracy and loss; goal: validation exact match of greedy decoding (as many
steps as the prefix has symbols).
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

BUGS = ("none", "causal_triangle_flipped", "qk_zero_init", "continuation_of_previous")
PAD, SEP, SYMBOLS = 0, 1, 12
VOCAB = SYMBOLS + 2
MIN_LEN, MAX_LEN, D, HEADS, LAYERS = 3, 7, 64, 4, 2
DATA_SEED, N_TRAIN, N_VAL = 0, 2000, 300


def examples(n: int, g: torch.Generator, bug: str):
    prefixes = []
    for _ in range(n):
        length = int(torch.randint(MIN_LEN, MAX_LEN + 1, (1,), generator=g))
        prefixes.append(2 + torch.randperm(SYMBOLS, generator=g)[:length])
    continuations = [p.sort().values for p in prefixes]
    if bug == "continuation_of_previous":
        continuations = [prefixes[i - 1].sort().values for i in range(n)]  # BUG continuation_of_previous: off by one
    return prefixes, continuations


def batch(prefixes: list[torch.Tensor], continuations: list[torch.Tensor]) -> dict:
    prefix = nn.utils.rnn.pad_sequence([p.flip(0) for p in prefixes], batch_first=True, padding_value=PAD).flip(1)
    tgt = nn.utils.rnn.pad_sequence(continuations, batch_first=True, padding_value=PAD)
    tgt_in = torch.cat([torch.full((len(tgt), 1), SEP), tgt[:, :-1]], 1)
    return {"prefix": prefix, "tgt_in": tgt_in, "tgt": tgt}


def allowed(tokens: torch.Tensor, prefix_cols: int, bug: str) -> torch.Tensor:
    """(B, 1, T, T): query i may attend key j."""
    t = tokens.shape[1]
    i, j = torch.arange(t)[:, None], torch.arange(t)[None, :]
    if bug == "causal_triangle_flipped":
        mask = (j < prefix_cols) | (j >= i)  # BUG causal_triangle_flipped: later keys instead of earlier ones
    else:
        mask = (j < prefix_cols) | (j <= i)
    return (mask & (tokens != PAD)[:, None, :])[:, None]


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.qkv, self.proj = nn.Linear(D, 3 * D, bias=False), nn.Linear(D, D)
        self.ff = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(), nn.Linear(4 * D, D))
        if bug == "qk_zero_init":
            self.qkv.weight.data[:2 * D] = 0  # BUG qk_zero_init: the output projection's zero init put on q and k

    def forward(self, h, mask):
        b, t, _ = h.shape
        q, k, v = self.qkv(self.norm1(h)).view(b, t, 3, HEADS, D // HEADS).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        h = h + self.proj(a.transpose(1, 2).reshape(b, t, D))
        return h + self.ff(self.norm2(h))


class PrefixLM(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.embed, self.pos = nn.Embedding(VOCAB, D), nn.Embedding(2 * MAX_LEN + 1, D)
        nn.init.normal_(self.embed.weight, std=0.02)
        nn.init.normal_(self.pos.weight, std=0.02)
        self.blocks = nn.ModuleList(Block(bug) for _ in range(LAYERS))
        self.norm, self.out = nn.LayerNorm(D), nn.Linear(D, VOCAB)

    def forward(self, prefix, tgt_in):  # (B, P), (B, T) -> (B, T, VOCAB): logits of the continuation
        tokens = torch.cat([prefix, tgt_in], 1)
        positions = ((tokens != PAD).long().cumsum(1) - 1).clamp(min=0)
        h = self.embed(tokens) + self.pos(positions)
        mask = allowed(tokens, prefix.shape[1], self.bug)
        for block in self.blocks:
            h = block(h, mask)
        return self.out(self.norm(h))[:, prefix.shape[1]:]

    @torch.no_grad()
    def greedy(self, prefix, steps: int) -> torch.Tensor:
        out = torch.full((len(prefix), 1), SEP, dtype=torch.long)
        for _ in range(steps):
            out = torch.cat([out, self(prefix, out)[:, -1].argmax(-1, keepdim=True)], 1)
        return out[:, 1:]


def loss_of(logits, tgt):
    return F.cross_entropy(logits.flatten(0, 1), tgt.flatten(), ignore_index=PAD)


class PrefixLMTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "prefixlm")
        g = torch.Generator().manual_seed(DATA_SEED)
        self.train, self.val = examples(N_TRAIN, g, self.bug), examples(N_VAL, g, self.bug)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        prefixes, continuations = self.train[0][:n], self.train[1][:n]
        model = PrefixLM(self.bug)
        train_eval, val_eval = batch(prefixes[:300], continuations[:300]), batch(*self.val)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    out.update(sequence_metrics(split, model(b["prefix"], b["tgt_in"]), b["tgt"], PAD))
                guess = model.greedy(val_eval["prefix"], val_eval["tgt"].shape[1])
                want = val_eval["tgt"]
                out["val/exact"] = ((guess == want) | (want == PAD)).all(1).float().mean().item()
            return out

        def get_batch(idx):
            return batch([prefixes[i] for i in idx.tolist()], [continuations[i] for i in idx.tolist()])

        return Problem(model=model, train_size=n, get_batch=get_batch,
                       loss=lambda model, b: loss_of(model(b["prefix"], b["tgt_in"]), b["tgt"]),
                       evaluate=evaluate, chance_loss=math.log(VOCAB),
                       forward=lambda model, b: model(b["prefix"], b["tgt_in"]), targets=lambda b: b["tgt"])
