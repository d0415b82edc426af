"""Held-out-51 family 4: a Transformer encoder over a recipe's ingredient set (a CLS token, attention written out
under a key padding mask) tagging six dietary properties, multi-label with binary cross-entropy, under AdamW, over
plain tuple batches.

40 ingredients in groups: meat 0-5, fish 6-9, dairy 10-14, nuts 15-18, wheat 19-23, chili 24-26, sugar 27-30,
vegetables 31-39. A recipe: 3..10 distinct ingredients (uniform), in random order. Tags: vegetarian (no meat, no
fish), dairy, nuts, gluten (wheat), spicy (chili), sweet (two sugars or more). Ids: PAD 0, CLS 1, ingredient i is
i + 2. Torch seed 0 draws 3000 training and 600 validation recipes; each split's tag table is computed once, and the
recipes are then sorted by length (stable) with their tags, for tighter batches; a stage of n recipes takes a fixed
random draw (seed 1) of n of them. Tuple batches
(tokens (B, L) = CLS + ingredients, right-padded; tags (B, 6) float). Model: embeddings of 64 (padding_idx 0, no
positions: a set); two pre-norm blocks (nn.LayerNorm; multi-head attention written out: a fused qkv Linear(64, 192), 4
heads, scores / sqrt(16), padded keys at -inf, softmax over the keys, an output Linear; a GELU feed-forward 128); a
final LayerNorm; the CLS position's state; Linear(64, 6). Loss: binary cross-entropy with logits; AdamW (weight decay
0.01) at 0.002. Metrics: loss, tag accuracy and `exact` (all six tags right) on the stage's first 500 recipes
and on validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "recipes_sorted_alone", "sigmoid_then_bce_logits", "softmax_over_queries", "mask_on_query_axis")
PAD, CLS, INGREDIENTS, D, HEADS, FF, TAGS = 0, 1, 40, 64, 4, 128, 6
MIN_LEN, MAX_LEN, N_TRAIN, N_VAL = 3, 10, 3000, 600
GROUPS = {"meat": range(0, 6), "fish": range(6, 10), "dairy": range(10, 15), "nuts": range(15, 19),
          "wheat": range(19, 24), "chili": range(24, 27), "sugar": range(27, 31)}


def tags_of(recipe: list[int]) -> list[float]:
    count = {k: sum(i in r for i in recipe) for k, r in GROUPS.items()}
    return [float(count["meat"] + count["fish"] == 0), float(count["dairy"] > 0), float(count["nuts"] > 0),
            float(count["wheat"] > 0), float(count["chili"] > 0), float(count["sugar"] >= 2)]


def draw(n: int, g: torch.Generator) -> list[list[int]]:
    return [torch.randperm(INGREDIENTS, generator=g)[:int(torch.randint(MIN_LEN, MAX_LEN + 1, (1,), generator=g))]
            .tolist() for _ in range(n)]


def make_batch(recipes: list, tags: list) -> tuple[torch.Tensor, torch.Tensor]:
    tokens = torch.full((len(recipes), 1 + max(len(r) for r in recipes)), PAD)
    tokens[:, 0] = CLS
    for i, r in enumerate(recipes):
        tokens[i, 1:len(r) + 1] = torch.tensor(r) + 2
    return tokens, torch.tensor(tags)


def sorted_by_length(recipes: list, tags: list, bug: str = "none") -> tuple[list, list]:
    order = sorted(range(len(recipes)), key=lambda i: len(recipes[i]))
    if bug == "recipes_sorted_alone":
        return [recipes[i] for i in order], tags  # BUG recipes_sorted_alone: the recipes reordered by length, the tag table left in its order
    return [recipes[i] for i in order], [tags[i] for i in order]


class Attention(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)

    def forward(self, x, pad):  # x (B, L, D), pad (B, L) True at PAD
        b, length, _ = x.shape
        q, k, v = self.qkv(x).view(b, length, 3, HEADS, D // HEADS).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)  # (B, heads, L, L)
        if self.bug == "mask_on_query_axis":
            scores = scores.masked_fill(pad[:, None, :, None], float("-inf"))  # BUG mask_on_query_axis: the padding mask broadcast over the query axis where the key axis was meant
        else:
            scores = scores.masked_fill(pad[:, None, None, :], float("-inf"))
        if self.bug == "softmax_over_queries":
            weights = scores.softmax(-2)  # BUG softmax_over_queries: normalised over the queries (dim -2) where the keys (-1) were meant
        else:
            weights = scores.softmax(-1)
        return self.proj((weights @ v).transpose(1, 2).reshape(b, length, D))


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.n1, self.n2, self.attn = nn.LayerNorm(D), nn.LayerNorm(D), Attention(bug)
        self.ff = nn.Sequential(nn.Linear(D, FF), nn.GELU(), nn.Linear(FF, D))

    def forward(self, x, pad):
        x = x + self.attn(self.n1(x), pad)
        return x + self.ff(self.n2(x))


class Tagger(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.emb = nn.Embedding(2 + INGREDIENTS, D, padding_idx=PAD)
        self.blocks = nn.ModuleList(Block(bug) for _ in range(2))
        self.norm, self.head = nn.LayerNorm(D), nn.Linear(D, TAGS)

    def forward(self, tokens):  # (B, L) -> (B, 6) logits
        pad = tokens == PAD
        h = self.emb(tokens)
        for block in self.blocks:
            h = block(h, pad)
        return self.head(self.norm(h)[:, 0])


def tag_loss(logits, tags, bug: str = "none"):
    if bug == "sigmoid_then_bce_logits":
        return F.binary_cross_entropy_with_logits(torch.sigmoid(logits), tags)  # BUG sigmoid_then_bce_logits: probabilities fed to a loss that applies the sigmoid itself
    return F.binary_cross_entropy_with_logits(logits, tags)


class RecipesTask:
    metrics = ("train/loss", "train/acc", "train/exact", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "recipes")
        g = torch.Generator().manual_seed(0)
        train, val = draw(N_TRAIN, g), draw(N_VAL, g)
        self.train, self.train_tags = sorted_by_length(train, [tags_of(r) for r in train], bug)
        self.val, self.val_tags = sorted_by_length(val, [tags_of(r) for r in val], bug)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        perm = torch.randperm(N_TRAIN, generator=torch.Generator().manual_seed(1))[:n].tolist()  # a stage's subset: drawn across lengths
        recipes, tags = [self.train[i] for i in perm], [self.train_tags[i] for i in perm]
        model = Tagger(self.bug)
        bug = self.bug
        train_eval, val_eval = make_batch(recipes[:500], tags[:500]), make_batch(self.val, self.val_tags)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (tokens, tags) in (("train", train_eval), ("val", val_eval)):
                    tokens, tags = on_device_of(model, tokens), on_device_of(model, tags)
                    logits = model(tokens)
                    right = (logits > 0).float() == tags
                    out[f"{split}/loss"] = F.binary_cross_entropy_with_logits(logits, tags).item()
                    out[f"{split}/acc"] = right.float().mean().item()
                    out[f"{split}/exact"] = right.all(1).float().mean().item()
            return out

        return Problem(model=model, train_size=n,
                       get_batch=lambda idx: make_batch([recipes[i] for i in idx.tolist()], [tags[i] for i in idx.tolist()]),
                       loss=lambda model, b: tag_loss(model(b[0]), b[1], bug), evaluate=evaluate,
                       chance_loss=math.log(2), forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
