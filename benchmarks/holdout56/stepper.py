"""Held-out-56 family 4: a decoder-only Transformer (hand-written LayerNorm and attention under causal and key-padding
masks) continuing an arithmetic progression mod 10 from a prompt, trained only on the answer tokens, under Adam, over
dataclass batches, scored by greedy generation.

A line: BOS a d n SEP x1 .. xn EOS, with a start digit a (0..9), a step d (1..9), a count n (4..9), x1 = a and x(k+1) =
(x(k) + d) mod 10. Ids: PAD 0, BOS 1, SEP 2, EOS 3, digit k 4 + k. Torch seed 0 draws 3000 training and 400 validation
lines. Dataclass batches Lines(tokens (B, L), targets (B, L)), right-padded: tokens = line[:-1], targets = line[1:] with
the prompt's positions (before SEP's prediction) and the padding at -100, so the loss reads the answer and its EOS only.
Model: Embedding(14, 64) plus learned positions (16); two pre-norm blocks (a hand-written LayerNorm over the features
with gain and bias; a fused qkv Linear(64, 192), 4 heads of 16, scores / 4, future keys and padded keys at -inf, softmax
over the keys, Linear(64, 64); a GELU feed-forward 128); a final LayerNorm; Linear(64, 14). Loss: cross-entropy with
ignore_index -100; Adam (betas 0.9, 0.98) at 0.002. Metrics: the teacher-forced loss and token accuracy over the scored
positions, and `exact` from greedy generation after the 5-token prompt (10 tokens, compared up to the line's EOS), on
the stage's first 200 lines and on validation. Each bug is one line, marked `# BUG <name>`.
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

BUGS = ("none", "lines_cut_at_12", "mask_tril", "norm_over_positions", "normal_std_1_init")
PAD, BOS, SEP, EOS, VOCAB, D, HEADS, FF, MAX_POS, PROMPT, GEN = 0, 1, 2, 3, 14, 64, 4, 128, 16, 5, 10
N_TRAIN, N_VAL, IGNORE = 3000, 400, -100


@dataclass
class Lines:
    tokens: torch.Tensor    # (B, L) line[:-1], PAD-padded
    targets: torch.Tensor   # (B, L) line[1:], -100 on the prompt and the padding


def draw(n: int, g: torch.Generator) -> list:
    out = []
    for _ in range(n):
        a, d, k = (int(torch.randint(lo, hi, (1,), generator=g)) for lo, hi in ((0, 10), (1, 10), (4, 10)))
        xs = [(a + i * d) % 10 for i in range(k)]
        out.append([BOS, 4 + a, 4 + d, 4 + k, SEP] + [4 + x for x in xs] + [EOS])
    return out


def make_batch(lines: list, bug: str = "none") -> Lines:
    if bug == "lines_cut_at_12":
        lines = [line[:12] for line in lines]  # BUG lines_cut_at_12: a max_len of 12 tokens set from the typical line (lines run to 15): the long lines lose their tail and EOS
    width = max(len(line) for line in lines) - 1
    tokens, targets = torch.full((len(lines), width), PAD), torch.full((len(lines), width), IGNORE)
    for i, line in enumerate(lines):
        t = torch.tensor(line)
        tokens[i, :len(line) - 1] = t[:-1]
        targets[i, PROMPT - 1:len(line) - 1] = t[PROMPT:]
    return Lines(tokens, targets)


class Norm(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.gain, self.bias = nn.Parameter(torch.ones(D)), nn.Parameter(torch.zeros(D))

    def forward(self, x):  # (B, T, D)
        dim = 1 if self.bug == "norm_over_positions" else -1  # BUG norm_over_positions: the statistics over dim 1 (the positions) where -1 (the features) was meant
        mu, var = x.mean(dim, keepdim=True), x.var(dim, keepdim=True, unbiased=False)
        return (x - mu) / torch.sqrt(var + 1e-5) * self.gain + self.bias


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.n1, self.n2 = Norm(bug), Norm(bug)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.ff = nn.Sequential(nn.Linear(D, FF), nn.GELU(), nn.Linear(FF, D))

    def forward(self, x, pad):  # x (B, T, D); pad (B, T) True at PAD
        b, t, _ = x.shape
        q, k, v = (u.view(b, t, HEADS, D // HEADS).transpose(1, 2) for u in self.qkv(self.n1(x)).chunk(3, -1))
        if self.bug == "mask_tril":
            future = torch.tril(torch.ones(t, t, dtype=torch.bool, device=x.device), diagonal=-1)  # BUG mask_tril: tril where triu was meant: each position sees itself and the future, not the past
        else:
            future = torch.triu(torch.ones(t, t, dtype=torch.bool, device=x.device), diagonal=1)
        s = (q @ k.transpose(-1, -2) / math.sqrt(D // HEADS)).masked_fill(future | pad[:, None, None, :],
                                                                           float("-inf"))
        a = (s.softmax(-1) @ v).transpose(1, 2).reshape(b, t, D)
        x = x + self.proj(a)
        return x + self.ff(self.n2(x))


class Stepper(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.emb, self.pos = nn.Embedding(VOCAB, D), nn.Embedding(MAX_POS, D)
        self.blocks = nn.ModuleList(Block(bug) for _ in range(2))
        self.norm, self.head = Norm(bug), nn.Linear(D, VOCAB)
        if bug == "normal_std_1_init":
            [nn.init.normal_(p, std=1.0) for p in self.parameters() if p.dim() == 2]  # BUG normal_std_1_init: a GPT-style normal_(p, std=0.02) typed as std=1.0 on every matrix

    def forward(self, tokens):  # (B, T) -> (B, T, VOCAB)
        pad = tokens == PAD
        h = self.emb(tokens) + self.pos(torch.arange(tokens.shape[1], device=tokens.device))
        for block in self.blocks:
            h = block(h, pad)
        return self.head(self.norm(h))

    def generate(self, prompt, steps=GEN):
        tokens = prompt
        for _ in range(steps):
            tokens = torch.cat([tokens, self(tokens)[:, -1].argmax(-1, keepdim=True)], 1)
        return tokens[:, prompt.shape[1]:]


def line_loss(logits, targets):
    return F.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1), ignore_index=IGNORE)


class StepperTask:
    metrics = ("train/loss", "train/acc", "train/exact", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "stepper")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        lines = self.train[:n]
        model = Stepper(self.bug)
        bug = self.bug
        evals = {}
        for split, ls in (("train", lines[:200]), ("val", self.val)):
            answer = torch.full((len(ls), GEN), PAD)
            for i, line in enumerate(ls):
                answer[i, :len(line) - PROMPT] = torch.tensor(line[PROMPT:])
            evals[split] = (make_batch(ls), torch.tensor([line[:PROMPT] for line in ls]), answer)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (b, prompt, answer) in evals.items():
                    tokens, targets = on_device_of(model, b.tokens), on_device_of(model, b.targets)
                    prompt, answer = on_device_of(model, prompt), on_device_of(model, answer)
                    logits = model(tokens)
                    real = targets != IGNORE
                    out[f"{split}/loss"] = line_loss(logits, targets).item()
                    out[f"{split}/acc"] = ((logits.argmax(-1) == targets) & real).sum().item() / real.sum().item()
                    gen = model.generate(prompt)
                    out[f"{split}/exact"] = ((gen == answer) | (answer == PAD)).all(1).float().mean().item()
            return out

        return Problem(model=model, train_size=n,
                       get_batch=lambda idx: make_batch([lines[i] for i in idx.tolist()], bug),
                       loss=lambda model, b: line_loss(model(b.tokens), b.targets), evaluate=evaluate,
                       chance_loss=math.log(VOCAB), forward=lambda model, b: model(b.tokens),
                       targets=lambda b: b.targets)
