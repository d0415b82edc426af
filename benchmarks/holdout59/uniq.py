"""Held-out-59 family 4: a decoder-only Transformer (pre-LN, nn.LayerNorm, attention written out under causal and
key-padding masks) that writes a digit string with its repeats squeezed out (Unix `uniq`: "3 3 5 5 5 1 3" -> "3 5 1 3"),
trained on the answer tokens only, under AdamW, over dataclass batches, scored by greedy generation.

A line: BOS x1 .. xn SEP y1 .. ym EOS, where x is 6..12 digits from 0..7 made of runs (each run a digit other than the
one before, 1..3 long, the last one cut at n) and y is x with each run written once. Ids: PAD 0, BOS 1, SEP 2, EOS 3,
digit k 4 + k. Torch seed 0 draws 3000 training and 500 validation lines. Dataclass batches Lines(tokens (B, L), targets
(B, L)), right-padded: tokens = line[:-1], targets = line[1:] with the prompt's positions (before SEP's own, whose target
is y1) and the padding at -100. Model: Embedding(12, 64) plus learned positions (32); two pre-LN blocks (nn.LayerNorm;
q, k, v Linear(64, 64), 4 heads of 16, scores / 4, future keys and padded keys at -inf, softmax over the keys, the heads
merged, Linear(64, 64); a GELU feed-forward 256); a final nn.LayerNorm; Linear(64, 12). Loss: cross-entropy with
ignore_index -100; AdamW (betas 0.9, 0.95, weight decay 0.01) at 0.001, batch 32. Metrics: the teacher-forced loss and
token accuracy over the scored positions, and `exact` from greedy generation after the prompt (its answer and EOS right),
on the stage's first 200 lines and on validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "labels_not_shifted", "loss_mask_skips_first_answer", "heads_merged_without_transpose",
        "head_tied_to_unit_embedding")
PAD, BOS, SEP, EOS, DIGITS, VOCAB, D, HEADS, FF, MAX_POS = 0, 1, 2, 3, 10, 14, 64, 4, 256, 32
N_TRAIN, N_VAL, IGNORE, MIN_N, MAX_N = 3000, 500, -100, 6, 12


@dataclass
class Lines:
    tokens: torch.Tensor    # (B, L) line[:-1], PAD-padded
    targets: torch.Tensor   # (B, L) line[1:], -100 on the prompt and the padding


def draw(n: int, g: torch.Generator) -> list:
    out = []
    for _ in range(n):
        length, x = int(torch.randint(MIN_N, MAX_N + 1, (1,), generator=g)), []
        for d in torch.randperm(DIGITS, generator=g).tolist():
            x += [d] * int(torch.randint(1, 4, (1,), generator=g))
            if len(x) >= length:
                break
        x = x[:length]
        y = [d for i, d in enumerate(x) if i == 0 or d != x[i - 1]]
        out.append([BOS] + [4 + d for d in x] + [SEP] + [4 + d for d in y] + [EOS])
    return out


def make_batch(lines: list, bug: str = "none") -> Lines:
    width = max(len(line) for line in lines) - 1
    tokens, targets = torch.full((len(lines), width), PAD), torch.full((len(lines), width), IGNORE)
    for i, line in enumerate(lines):
        t, sep = torch.tensor(line), line.index(SEP)
        tokens[i, :len(line) - 1] = t[:-1]
        if bug == "labels_not_shifted":
            targets[i, :len(line) - 1] = t[:-1]  # BUG labels_not_shifted: the targets sliced like the tokens (line[:-1]; line[1:] meant): each position is taught its own token
        else:
            targets[i, :len(line) - 1] = t[1:]
        if bug == "loss_mask_skips_first_answer":
            targets[i, :sep + 1] = IGNORE  # BUG loss_mask_skips_first_answer: the prompt masked through SEP's own position ("the answer starts after SEP"), whose target is the answer's first digit
        else:
            targets[i, :sep] = IGNORE
    return Lines(tokens, targets)


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.n1, self.n2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.q, self.k, self.v, self.proj = (nn.Linear(D, D) for _ in range(4))
        self.ff = nn.Sequential(nn.Linear(D, FF), nn.GELU(), nn.Linear(FF, D))

    def forward(self, x, pad):  # x (B, T, D); pad (B, T) True at PAD
        b, t, _ = x.shape
        h = self.n1(x)
        q, k, v = (f(h).view(b, t, HEADS, D // HEADS).transpose(1, 2) for f in (self.q, self.k, self.v))
        future = torch.triu(torch.ones(t, t, dtype=torch.bool, device=x.device), diagonal=1)
        s = (q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)).masked_fill(future | pad[:, None, None, :],
                                                                           float("-inf"))
        a = s.softmax(-1) @ v  # (B, HEADS, T, D / HEADS)
        if self.bug == "heads_merged_without_transpose":
            a = a.reshape(b, t, D)  # BUG heads_merged_without_transpose: (B, H, T, dh) reshaped to (B, T, D) without transpose(1, 2) first: rows of positions and heads mixed
        else:
            a = a.transpose(1, 2).reshape(b, t, D)
        x = x + self.proj(a)
        return x + self.ff(self.n2(x))


class Squeezer(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.emb, self.pos = nn.Embedding(VOCAB, D), nn.Embedding(MAX_POS, D)
        self.blocks = nn.ModuleList(Block(bug) for _ in range(2))
        self.norm, self.head = nn.LayerNorm(D), nn.Linear(D, VOCAB)
        if bug == "head_tied_to_unit_embedding":
            self.head.weight = self.emb.weight  # BUG head_tied_to_unit_embedding: the head tied to the embedding, left at nn.Embedding's N(0, 1) (a GPT ties them at std 0.02): logits of std ~8 from the start

    def forward(self, tokens):  # (B, T) -> (B, T, VOCAB)
        pad = tokens == PAD
        h = self.emb(tokens) + self.pos(torch.arange(tokens.shape[1], device=tokens.device))
        for block in self.blocks:
            h = block(h, pad)
        return self.head(self.norm(h))

    def generate(self, prompt, steps: int):  # prompt (B, P), every row's prompt of the same length
        tokens = prompt
        for _ in range(steps):
            tokens = torch.cat([tokens, self(tokens)[:, -1].argmax(-1, keepdim=True)], 1)
        return tokens[:, prompt.shape[1]:]


def line_loss(logits, targets):
    return F.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1), ignore_index=IGNORE)


class UniqTask:
    metrics = ("train/loss", "train/acc", "train/exact", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "uniq")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        lines = self.train[:n]
        model = Squeezer(self.bug)
        bug = self.bug
        evals = {}
        for split, ls in (("train", lines[:200]), ("val", self.val)):
            groups = {}
            for line in ls:  # generation batches: prompts of one length together
                groups.setdefault(line.index(SEP) + 1, []).append(line)
            evals[split] = (make_batch(ls), [(torch.tensor([line[:p] for line in g]),
                                              [line[p:] for line in g]) for p, g in sorted(groups.items())], len(ls))

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (b, groups, count) in evals.items():
                    tokens, targets = on_device_of(model, b.tokens), on_device_of(model, b.targets)
                    logits = model(tokens)
                    real = targets != IGNORE
                    out[f"{split}/loss"] = line_loss(logits, targets).item()
                    out[f"{split}/acc"] = ((logits.argmax(-1) == targets) & real).sum().item() / real.sum().item()
                    right = 0
                    for prompt, answers in groups:
                        steps = max(len(a) for a in answers)
                        gen = model.generate(on_device_of(model, prompt), steps).tolist()
                        right += sum(g[:len(a)] == a for g, a in zip(gen, answers))
                    out[f"{split}/exact"] = right / count
            return out

        return Problem(model=model, train_size=n,
                       get_batch=lambda idx: make_batch([lines[i] for i in idx.tolist()], bug),
                       loss=lambda model, b: line_loss(model(b.tokens), b.targets), evaluate=evaluate,
                       chance_loss=math.log(VOCAB), forward=lambda model, b: model(b.tokens),
                       targets=lambda b: b.targets)
