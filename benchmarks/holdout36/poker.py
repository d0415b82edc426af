"""Held-out-36 family 4: a Transformer encoder naming the highest rank in a hand of 5..7 playing cards (2 .. A, 13
classes), read from a [CLS] token over right-padded batches.

A hand: 5, 6 or 7 distinct cards of a 52-card deck (uniform); the class is its highest rank. Two id tensors: ranks
(PAD 0, ranks 1..13, CLS 14) and suits (PAD 0, suits 1..4, CLS 5); the input is CLS then the cards in the order
dealt, right-padded. Torch seed 0 draws 3000 training hands and then 500 validation hands. Model: d 64, 4 heads, 2
pre-norm blocks with a hand-written LayerNorm (over the features, eps inside the square root, a learnt gain and
bias), attention written out (one bias-free Linear to q, k, v; scores / sqrt(16); a key padding mask, -inf on PAD
keys; softmax over the keys), feed-forward 128 with ReLU; a card's vector the sum of a rank and a suit embedding
(padding_idx 0); no positions (a hand is a set; PAD rows embed to zero); a final LayerNorm and Linear(64, 13) on the
CLS position, the classifier's weight zero-initialised. Cross-entropy; Adam at 0.002. Tuple batches (ranks (B, L),
suits (B, L), rank class (B,)). Metrics: loss and accuracy on the stage's first 500 hands and on validation; extras
y_val. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "mask_for_left_padding", "ln_eps_outside_sqrt", "final_norm_gain_zeroed", "val_from_train_seed")
PAD, CLS_RANK, CLS_SUIT = 0, 14, 5
RANKS = ("2", "3", "4", "5", "6", "7", "8", "9", "10", "J", "Q", "K", "A")
D, HEADS, LAYERS, FF = 64, 4, 2, 128
N_TRAIN, N_VAL = 3000, 500


def draw(n: int, g: torch.Generator) -> tuple[list[list[int]], torch.Tensor]:
    hands, labels = [], []
    for _ in range(n):
        cards = torch.randperm(52, generator=g)[:int(torch.randint(5, 8, (1,), generator=g))]
        hands.append([(CLS_RANK, CLS_SUIT)] + [(1 + int(c) // 4, 1 + int(c) % 4) for c in cards])
        labels.append(int(cards.max()) // 4)
    return hands, torch.tensor(labels)


def collate(hands: list) -> tuple[torch.Tensor, torch.Tensor]:
    rank, suit = (torch.full((len(hands), max(len(h) for h in hands)), PAD) for _ in range(2))
    for i, h in enumerate(hands):
        rank[i, :len(h)], suit[i, :len(h)] = torch.tensor(h).T
    return rank, suit


class LayerNorm(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.gain, self.bias = nn.Parameter(torch.ones(D)), nn.Parameter(torch.zeros(D))

    def forward(self, x):
        mu, var = x.mean(-1, keepdim=True), x.var(-1, keepdim=True, unbiased=False)
        if self.bug == "ln_eps_outside_sqrt":
            xhat = (x - mu) / var.sqrt() + 1e-5  # BUG ln_eps_outside_sqrt: eps added after the division
        else:
            xhat = (x - mu) / (var + 1e-5).sqrt()
        return xhat * self.gain + self.bias


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.norm1, self.norm2 = LayerNorm(bug), LayerNorm(bug)
        self.qkv, self.proj = nn.Linear(D, 3 * D, bias=False), nn.Linear(D, D)
        self.ff1, self.ff2 = nn.Linear(D, FF), nn.Linear(FF, D)

    def forward(self, x, real):  # (B, L, D), (B, L) True on CLS and cards
        b, w, _ = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, w, 3, HEADS, D // HEADS).permute(2, 0, 3, 1, 4)
        scores = (q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)).masked_fill(~real[:, None, None, :], float("-inf"))
        x = x + self.proj((scores.softmax(-1) @ v).transpose(1, 2).reshape(b, w, D))
        return x + self.ff2(F.relu(self.ff1(self.norm2(x))))


class PokerEncoder(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.rank_emb = nn.Embedding(CLS_RANK + 1, D, padding_idx=PAD)
        self.suit_emb = nn.Embedding(CLS_SUIT + 1, D, padding_idx=PAD)
        self.blocks = nn.ModuleList(Block(bug) for _ in range(LAYERS))
        self.norm, self.head = LayerNorm(bug), nn.Linear(D, len(RANKS))
        nn.init.zeros_(self.head.weight)
        if bug == "final_norm_gain_zeroed":
            nn.init.zeros_(self.norm.gain)  # BUG final_norm_gain_zeroed: meant the bias; with the zero head, dead

    def forward(self, rank, suit):  # (B, L), (B, L) -> (B, 13)
        w = rank.shape[1]
        lengths = (rank != PAD).sum(1)
        if self.bug == "mask_for_left_padding":
            real = torch.arange(w, device=rank.device) >= w - lengths[:, None]  # BUG mask_for_left_padding  # noqa: E501
        else:
            real = torch.arange(w, device=rank.device) < lengths[:, None]
        x = self.rank_emb(rank) + self.suit_emb(suit)
        for block in self.blocks:
            x = block(x, real)
        return self.head(self.norm(x)[:, 0])


class PokerTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "poker")
        g = torch.Generator().manual_seed(0)
        self.train, self.y_train = draw(N_TRAIN, g)
        if self.bug == "val_from_train_seed":
            g = torch.Generator().manual_seed(0)  # BUG val_from_train_seed: validation = first training hands
        self.val, self.y_val = draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        hands, y = self.train[:n], self.y_train[:n]
        model = PokerEncoder(self.bug)
        train_eval, val_eval = (*collate(hands[:500]), y[:500]), (*collate(self.val), self.y_val)

        def loss(model, b):
            return F.cross_entropy(model(b[0], b[1]), b[2])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    rank, suit, ys = (on_device_of(model, t) for t in b)
                    logits = model(rank, suit)
                    out[f"{split}/loss"] = F.cross_entropy(logits, ys).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (*collate([hands[i] for i in idx.tolist()]),
                                                                         y[idx]),
                       loss=loss, evaluate=evaluate, chance_loss=math.log(len(RANKS)), extras={"y_val": self.y_val},
                       forward=lambda model, b: model(b[0], b[1]), targets=lambda b: b[2])
