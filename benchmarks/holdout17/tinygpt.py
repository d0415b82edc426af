"""Held-out-17 family 4: a small causal Transformer LM (hand-written attention, causal and key padding masks,
learned positions) on arithmetic progressions.

Each sequence is BOS, a length token L (n in 3..8 symbols, uniform), a start digit a (uniform over 10), a step d
(uniform in 1..3) shown as the second digit a + d, then the rest of the progression a + 2d, ..., a + (n-1)d (mod
10), EOS. Ids: 0 PAD, 1 BOS, 2 EOS, digits 3..12, length tokens 13..18. The LM reads the sequence but its last token
and predicts the next one; batches are right-padded (the key padding mask hides the padding keys). The length,
the start and the step are random; everything after the second digit (the rest and EOS) is determined: the
source's entropy (log 6 + log 10 + log 3 per sequence) over its target tokens on the validation split is
`best_loss` (chance log 19). Model: token embeddings and learned positions (d 64, N(0, 0.02^2)), two pre-LN
blocks (nn.LayerNorm; attention written out: a fused q/k/v projection, 4 heads, scores / sqrt(16), the causal
and padding masks as -inf by masked_fill, softmax, an output projection; feed-forward 256 with GELU), a final
LayerNorm, a linear head. A query may attend key j when j <= i and key j is a real token (a padding query keeps
its own key). Cross-entropy over the targets, PAD ignored. Adam at 0.001. Dict batches {tokens, tgt}. Metrics:
loss over all targets, accuracy over the determined targets (`det_acc`); goals on det_acc.
Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "additive_mask_sign", "qk_zero_init", "inputs_not_shifted", "qkv_view_time_first")
PAD, BOS, EOS, DIGITS, LEN0 = 0, 1, 2, 10, 13
MIN_N, MAX_N, STEPS = 3, 8, 3
VOCAB = LEN0 + MAX_N - MIN_N + 1
D, HEADS, LAYERS, MAX_T = 64, 4, 2, MAX_N + 2
DATA_SEED, N_TRAIN, N_VAL = 0, 2000, 300


def sequences(n: int, g: torch.Generator) -> list[torch.Tensor]:
    out = []
    for _ in range(n):
        k = int(torch.randint(MIN_N, MAX_N + 1, (1,), generator=g))
        a = int(torch.randint(DIGITS, (1,), generator=g))
        d = int(torch.randint(1, STEPS + 1, (1,), generator=g))
        digits = [(a + i * d) % DIGITS + 3 for i in range(k)]
        out.append(torch.tensor([BOS, LEN0 + k - MIN_N] + digits + [EOS]))
    return out


def entropy_rate(seqs: list[torch.Tensor]) -> float:
    random_part = math.log(MAX_N - MIN_N + 1) + math.log(DIGITS) + math.log(STEPS)
    return len(seqs) * random_part / sum(len(s) - 1 for s in seqs)


def batch(seqs: list[torch.Tensor], bug: str) -> dict:
    right = nn.utils.rnn.pad_sequence(seqs, batch_first=True, padding_value=PAD)
    tokens, tgt = right[:, :-1], right[:, 1:]
    if bug == "inputs_not_shifted":
        tokens = right[:, 1:]  # BUG inputs_not_shifted: the inputs cut like the targets
    return {"tokens": tokens, "tgt": tgt}


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.norm1, self.norm2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        if bug == "qk_zero_init":
            for p in (self.qkv.weight, self.qkv.bias): nn.init.zeros_(p.data[:2 * D])  # noqa: E701  BUG qk_zero_init: query and key projections zeroed (meant: "start from uniform attention")
        self.ff = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(), nn.Linear(4 * D, D))

    def forward(self, h, forbidden):  # forbidden: (B, 1, T, T) booleans
        b, t, _ = h.shape
        q, k, v = self.qkv(self.norm1(h)).view(b, t, 3, HEADS, D // HEADS).permute(2, 0, 3, 1, 4)
        if self.bug == "qkv_view_time_first":
            q, k, v = self.qkv(self.norm1(h)).view(t, b, 3, HEADS, D // HEADS).permute(2, 1, 3, 0, 4)  # BUG qkv_view_time_first: a (B, T, .) tensor viewed as (T, B, .)
        s = q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)
        s = s.masked_fill(forbidden, float("-inf"))
        if self.bug == "additive_mask_sign":
            s = q @ k.transpose(-1, -2) / math.sqrt(D // HEADS) + forbidden.float() * 1e4  # BUG additive_mask_sign: + instead of - a big number
        a = torch.softmax(s, -1) @ v
        h = h + self.proj(a.transpose(1, 2).reshape(b, t, D))
        return h + self.ff(self.norm2(h))


class TinyGPT(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.embed, self.pos = nn.Embedding(VOCAB, D), nn.Embedding(MAX_T, D)
        nn.init.normal_(self.embed.weight, std=0.02)
        nn.init.normal_(self.pos.weight, std=0.02)
        self.blocks = nn.ModuleList(Block(bug) for _ in range(LAYERS))
        self.norm, self.head = nn.LayerNorm(D), nn.Linear(D, VOCAB)

    def forward(self, tokens):  # (B, T) -> (B, T, VOCAB)
        t = tokens.shape[1]
        real = tokens != PAD
        i, j = torch.arange(t)[:, None], torch.arange(t)[None, :]
        forbidden = (j > i) | (~real[:, None, None, :] & (i != j))
        h = self.embed(tokens) + self.pos(torch.arange(t))
        for block in self.blocks:
            h = block(h, forbidden)
        return self.head(self.norm(h))


def metrics(split: str, logits, b) -> dict:
    tgt = b["tgt"]
    real = tgt != PAD
    det = real & (torch.arange(tgt.shape[1]) >= 3)  # targets after the second digit (the rest and EOS)
    right = logits.argmax(-1) == tgt
    return {f"{split}/loss": F.cross_entropy(logits.flatten(0, 1), tgt.flatten(), ignore_index=PAD).item(),
            f"{split}/det_acc": (right & det).sum().item() / det.sum().item()}


class TinyGPTTask:
    metrics = ("train/loss", "train/det_acc", "val/loss", "val/det_acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "tinygpt")
        g = torch.Generator().manual_seed(DATA_SEED)
        self.train, self.val = sequences(N_TRAIN, g), sequences(N_VAL, g)
        self.best = entropy_rate(self.val)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        seqs = self.train[:n]
        model = TinyGPT(self.bug)
        train_eval, val_eval = batch(seqs[:300], self.bug), batch(self.val, self.bug)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    out.update(metrics(split, model(b["tokens"]), b))
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: batch([seqs[i] for i in idx.tolist()], self.bug),
                       loss=lambda model, b: F.cross_entropy(model(b["tokens"]).flatten(0, 1), b["tgt"].flatten(),
                                                             ignore_index=PAD),
                       evaluate=evaluate, chance_loss=math.log(VOCAB), best_loss=self.best,
                       forward=lambda model, b: model(b["tokens"]), targets=lambda b: b["tgt"])
