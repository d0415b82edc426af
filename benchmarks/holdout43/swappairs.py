"""Held-out-43 family 4: a decoder-only Transformer LM (attention written out, causal and key-padding masks,
left-padded batches, learnt positions counted from each sequence's first real token) that answers a word with its
adjacent letters swapped (`abcde` -> `badce`), over dict batches.

A word: 2..8 letters of twelve (uniform); the sequence: the word, SEP, the answer (each pair of letters swapped, an
odd last letter kept), EOS. Ids: PAD 0, SEP 1, EOS 2, the letters 3..14. Torch seed 0 draws 3000 training and 500
validation words. Dict batches {ids (B, L), labels (B, L)}, left-padded (the generation layout): ids the sequence
but its last token, labels the next token at the answer's positions (the SEP position on) and -100 elsewhere.
Model: token embeddings of 64 plus learnt positions (24), a token's position being the number of real tokens before
it; two pre-norm blocks (4 heads of 16, scores / 4, a key blocked when it lies in the future or is PAD, each query
always seeing itself; GELU feed-forward 128), a final LayerNorm and Linear(64, 15). Cross-entropy over the labelled
positions; Adam at 0.001. Metrics: token loss and accuracy over the answer's positions (train: the stage's first
400 words) and val/exact. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "answer_mask_off_by_one", "mask_and_for_or", "heads_split_by_view", "block_output_dropped")
PAD, SEP, EOS, LETTERS, V = 0, 1, 2, 12, 15
MIN_LEN, MAX_LEN, D, HEADS, FF, MAX_POS = 2, 8, 64, 4, 128, 24
IGNORE = -100
N_TRAIN, N_VAL = 3000, 500


def swapped(w: list[int]) -> list[int]:
    out = []
    for i in range(0, len(w) - 1, 2):
        out += [w[i + 1], w[i]]
    return out + w[len(w) - len(w) % 2:]


def draw(n: int, g: torch.Generator) -> list[list[int]]:
    words = []
    for _ in range(n):
        words.append((torch.randint(0, LETTERS, (int(torch.randint(MIN_LEN, MAX_LEN + 1, (1,), generator=g)),),
                                    generator=g) + 3).tolist())
    return words


def make_batch(words: list, bug: str = "none") -> dict:
    seqs = [w + [SEP] + swapped(w) + [EOS] for w in words]
    width = max(len(s) for s in seqs) - 1
    ids, labels = torch.full((len(words), width), PAD), torch.full((len(words), width), IGNORE)
    for i, (w, s) in enumerate(zip(words, seqs)):
        lab = torch.tensor(s[1:])
        if bug == "answer_mask_off_by_one":
            lab[:len(w) + 1] = IGNORE  # BUG answer_mask_off_by_one: the first answer letter (at SEP) unlabelled too
        else:
            lab[:len(w)] = IGNORE  # the prompt's next tokens; the answer starts at SEP's position
        ids[i, width - len(s) + 1:], labels[i, width - len(s) + 1:] = torch.tensor(s[:-1]), lab
    return {"ids": ids, "labels": labels}


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.n1, self.n2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.ff = nn.Sequential(nn.Linear(D, FF), nn.GELU(), nn.Linear(FF, D))

    def forward(self, x, blocked):  # (B, L, D), (B, 1, L, L) True where a query may not read a key
        b, l, _ = x.shape
        if self.bug == "heads_split_by_view":
            q, k, v = (t.reshape(b, HEADS, l, D // HEADS) for t in self.qkv(self.n1(x)).chunk(3, -1))  # BUG heads_split_by_view: no view(b, l, heads, d).transpose(1, 2)
        else:
            q, k, v = (t.view(b, l, HEADS, D // HEADS).transpose(1, 2) for t in self.qkv(self.n1(x)).chunk(3, -1))
        s = (q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)).masked_fill(blocked, float("-inf"))
        x = x + self.proj((s.softmax(-1) @ v).transpose(1, 2).reshape(b, l, D))
        return x + self.ff(self.n2(x))


class SwapPairsLM(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.emb, self.pos = nn.Embedding(V, D), nn.Embedding(MAX_POS, D)
        self.blocks = nn.ModuleList(Block(bug) for _ in range(2))
        self.norm, self.head = nn.LayerNorm(D), nn.Linear(D, V)

    def forward(self, ids):  # (B, L) -> (B, L, V) logits
        b, l = ids.shape
        real = ids != PAD
        pos = (real.long().cumsum(1) - 1).clamp(min=0)
        h = self.emb(ids) + self.pos(pos)
        future = torch.ones(l, l, dtype=torch.bool, device=ids.device).triu(1)
        own = torch.eye(l, dtype=torch.bool, device=ids.device)
        if self.bug == "mask_and_for_or":
            blocked = (future & ~real[:, None, None, :]) & ~own  # BUG mask_and_for_or: `&` where `|` was meant
        else:
            blocked = (future | ~real[:, None, None, :]) & ~own
        for block in self.blocks:
            if self.bug == "block_output_dropped":
                x = block(h, blocked)  # BUG block_output_dropped: assigned to x, the loop goes on with h
            else:
                h = block(h, blocked)
        return self.head(self.norm(h))


def answer_targets(b: dict) -> torch.Tensor:
    """The targets the metrics score: the answer's letters and EOS (PAD, i.e. 0, elsewhere)."""
    return b["labels"].clamp(min=PAD)


class SwapPairsTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "swappairs")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        words = self.train[:n]
        model = SwapPairsLM(self.bug)
        train_eval, val_eval = make_batch(words[:400]), make_batch(self.val)  # the metrics score the whole answer

        def run(model, b):
            return model(b["ids"])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    b = on_device_of(model, b)
                    out.update(sequence_metrics(split, run(model, b), answer_targets(b), PAD))
            return out

        def loss(model, b):
            return F.cross_entropy(run(model, b).flatten(0, 1), b["labels"].flatten(), ignore_index=IGNORE)

        return Problem(model=model, train_size=n,
                       get_batch=lambda idx: make_batch([words[i] for i in idx.tolist()], self.bug),
                       loss=loss, evaluate=evaluate, chance_loss=math.log(V), forward=run, targets=lambda b: b["labels"])
