"""Held-out-16 family 4: a small causal Transformer LM with a causal and a padding mask, on a copy language.

Each sequence is BOS, k symbols (k uniform in 2..6, each uniform over 8), SEP, the same k symbols again, EOS. Ids: 0
PAD, 1 BOS, 2 SEP, 3 EOS, symbols from 4. The LM reads the sequence but its last token and predicts the next one;
a batch is left-padded to its longest sequence (inputs and targets), so a real position sees padding keys before
it unless the mask hides them; positions count real tokens only. The first half is random (log 8 per symbol, plus
the uncertain length), the copy and EOS are determined: the source's entropy rate per target token is computed
exactly on the validation split (`best_loss`, ~1.0 nats; chance log 12). Model: token embeddings and learned
positions (d 64), two pre-LN blocks (a LayerNorm written out, attention written out: a fused q/k/v projection, 4
heads, scores / sqrt(16), masked_fill of the forbidden keys with -inf, softmax, an output projection; feed-forward
256 with GELU), a final LayerNorm, a linear head. The mask: query i may attend key j when j <= i and key j is a
real token (or j == i, so that a padding query keeps one key). Cross-entropy over the targets, PAD ignored.
Adam at 0.001. Dict batches {tokens, tgt}. Metrics: loss over all targets, accuracy over the determined targets
(the copy and EOS, `copy_acc`); goals on copy accuracy.
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

BUGS = ("none", "additive_boolean_mask", "padding_mask_on_queries", "layernorm_over_time", "head_std_1")
PAD, BOS, SEP, EOS, SYMBOLS = 0, 1, 2, 3, 8
VOCAB = SYMBOLS + 4
MIN_K, MAX_K, D, HEADS, LAYERS = 2, 6, 64, 4, 2
DATA_SEED, N_TRAIN, N_VAL = 0, 2000, 300


def sequences(n: int, g: torch.Generator) -> list[torch.Tensor]:
    out = []
    for _ in range(n):
        k = int(torch.randint(MIN_K, MAX_K + 1, (1,), generator=g))
        s = torch.randint(SYMBOLS, (k,), generator=g) + 4
        out.append(torch.cat([torch.tensor([BOS]), s, torch.tensor([SEP]), s, torch.tensor([EOS])]))
    return out


def entropy_rate(seqs: list[torch.Tensor]) -> float:
    """The true distribution's NLL per target token, summed over the sequences: the lowest loss a model reaches."""
    nll, count = 0.0, 0
    for s in seqs:
        k = (len(s) - 3) // 2
        nll += k * math.log(SYMBOLS)
        for j in range(MIN_K, k + 1):  # after the j-th symbol: stop (SEP) with hazard 1 / (MAX_K - j + 1)
            hazard = 1.0 / (MAX_K - j + 1)
            nll += -math.log(hazard) if j == k else -math.log(1 - hazard)
        count += len(s) - 1
    return nll / count


def batch(seqs: list[torch.Tensor]) -> dict:
    left = nn.utils.rnn.pad_sequence([s.flip(0) for s in seqs], batch_first=True, padding_value=PAD).flip(1)
    return {"tokens": left[:, :-1], "tgt": torch.where(left[:, :-1] == PAD, PAD, left[:, 1:])}


class LayerNorm(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.weight, self.bias = nn.Parameter(torch.ones(D)), nn.Parameter(torch.zeros(D))

    def forward(self, h):  # (B, T, D)
        dim = -1
        if self.bug == "layernorm_over_time":
            dim = 1  # BUG layernorm_over_time: statistics over the positions instead of the features
        mean, var = h.mean(dim, keepdim=True), h.var(dim, unbiased=False, keepdim=True)
        return (h - mean) / (var + 1e-5).sqrt() * self.weight + self.bias


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.norm1, self.norm2 = LayerNorm(bug), LayerNorm(bug)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.ff = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(), nn.Linear(4 * D, D))

    def forward(self, h, allowed):  # allowed: (B, 1, T, T) booleans
        b, t, _ = h.shape
        q, k, v = self.qkv(self.norm1(h)).view(b, t, 3, HEADS, D // HEADS).permute(2, 0, 3, 1, 4)
        s = q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)
        s = s.masked_fill(~allowed, float("-inf"))
        if self.bug == "additive_boolean_mask":
            s = (q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)) + allowed.float()  # BUG additive_boolean_mask: 0/1 added
        a = torch.softmax(s, -1) @ v
        h = h + self.proj(a.transpose(1, 2).reshape(b, t, D))
        return h + self.ff(self.norm2(h))


class CopyLM(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.embed, self.pos = nn.Embedding(VOCAB, D), nn.Embedding(2 * MAX_K + 3, D)
        nn.init.normal_(self.embed.weight, std=0.02)
        nn.init.normal_(self.pos.weight, std=0.02)
        self.blocks = nn.ModuleList(Block(bug) for _ in range(LAYERS))
        self.norm, self.head = LayerNorm(bug), nn.Linear(D, VOCAB)
        if bug == "head_std_1":
            nn.init.normal_(self.head.weight, std=1.0)  # BUG head_std_1: the embeddings' N(0, 1) on the output layer

    def forward(self, tokens):  # (B, T) -> (B, T, VOCAB)
        real = tokens != PAD
        positions = (real.long().cumsum(1) - 1).clamp(min=0)
        t = tokens.shape[1]
        i, j = torch.arange(t)[:, None], torch.arange(t)[None, :]
        allowed = (j <= i) & (real[:, None, None, :] | (i == j))
        if self.bug == "padding_mask_on_queries":
            allowed = (j <= i) & (real[:, None, :, None] | (i == j))  # BUG padding_mask_on_queries: the wrong axis
        h = self.embed(tokens) + self.pos(positions)
        for block in self.blocks:
            h = block(h, allowed)
        return self.head(self.norm(h))


def metrics(split: str, logits, b) -> dict:
    tgt = b["tgt"]
    real = tgt != PAD
    copy = real & ((b["tokens"] == SEP).long().cumsum(1) > 0)  # the targets at or after the SEP input
    right = logits.argmax(-1) == tgt
    return {f"{split}/loss": F.cross_entropy(logits.flatten(0, 1), tgt.flatten(), ignore_index=PAD).item(),
            f"{split}/copy_acc": (right & copy).sum().item() / copy.sum().item()}


class MaskedLMTask:
    metrics = ("train/loss", "train/copy_acc", "val/loss", "val/copy_acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "maskedlm")
        g = torch.Generator().manual_seed(DATA_SEED)
        self.train, self.val = sequences(N_TRAIN, g), sequences(N_VAL, g)
        self.best = entropy_rate(self.val)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        seqs = self.train[:n]
        model = CopyLM(self.bug)
        train_eval, val_eval = batch(seqs[:300]), batch(self.val)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    out.update(metrics(split, model(b["tokens"]), b))
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: batch([seqs[i] for i in idx.tolist()]),
                       loss=lambda model, b: F.cross_entropy(model(b["tokens"]).flatten(0, 1), b["tgt"].flatten(),
                                                             ignore_index=PAD),
                       evaluate=evaluate, chance_loss=math.log(VOCAB), best_loss=self.best,
                       forward=lambda model, b: model(b["tokens"]), targets=lambda b: b["tgt"])
