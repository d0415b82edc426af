"""Held-out-57 family 4: a decoder-only Transformer (causal LM, left-padded, hand-written RMSNorm and attention under
causal and key-padding masks, embedding tied to the output layer) that sorts a list of digits after an "=" sign, under
NAdam, over dataclass batches, scored by greedy generation.

A list: 3..8 digits 0..9 drawn uniformly (torch seed 0); its sequence: the digits, "=", the digits sorted ascending.
Ids: digits 0..9, "=" 10, PAD 11. 3000 training and 600 validation lists. Dataclass batches Lists(tokens (B, T),
targets (B, T)): tokens = sequence[:-1], targets = sequence[1:] with -100 wherever the next token is not part of the
sorted answer; rows left-padded (PAD tokens, -100 targets), positions counted from each row's first real token. Model:
token embedding 64 (normal, std 0.02; tied to the output layer) + learned positions (16); two pre-norm blocks
(hand-written RMSNorm; four-head attention written out, future and padded keys at -inf, each position always seeing
itself; GELU feed-forward 64-256-64); a final RMSNorm; logits = h @ embedding.T. Loss: cross-entropy over the answer
positions; NAdam at 0.002. Metrics: teacher-forced answer loss and, from greedy generation after "=", digit `acc` and
`exact` (the whole sorted list right) on the stage's first 500 lists and on validation. Each bug is one line, marked
`# BUG <name>`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "rmsnorm_over_positions", "positions_from_column_index", "pad_mask_not_applied", "loss_mask_inverted")
EQ, PAD, V, D, HEADS, MAX_T, N_TRAIN, N_VAL = 10, 11, 12, 64, 4, 16, 3000, 600


@dataclass
class Lists:
    tokens: torch.Tensor
    targets: torch.Tensor


def draw(n: int, g: torch.Generator) -> list[list[int]]:
    return [torch.randint(0, 10, (int(torch.randint(3, 9, (1,), generator=g)),), generator=g).tolist() for _ in range(n)]


def make_batch(lists: list[list[int]], bug: str = "none") -> Lists:
    seqs = [x + [EQ] + sorted(x) for x in lists]
    width = max(len(s) for s in seqs) - 1
    tokens, targets = torch.full((len(seqs), width), PAD), torch.full((len(seqs), width), -100)
    for i, (x, s) in enumerate(zip(lists, seqs)):
        n, row = len(x), torch.tensor(s)
        tgt = row[1:].clone()
        if bug == "loss_mask_inverted":
            tgt[n:] = -100  # BUG loss_mask_inverted: the mask written the wrong way round: the prompt's next tokens scored, the answer's left out
        else:
            tgt[:n - 1] = -100
        tokens[i, width - len(s) + 1:], targets[i, width - len(s) + 1:] = row[:-1], tgt
    return Lists(tokens, targets)


class RMSNorm(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug, self.gain = bug, nn.Parameter(torch.ones(D))

    def forward(self, x):  # (B, T, D)
        if self.bug == "rmsnorm_over_positions":
            return x * torch.rsqrt(x.pow(2).mean(1, keepdim=True) + 1e-6) * self.gain  # BUG rmsnorm_over_positions: the mean square over dim 1 (the positions) where -1 (the features) was meant
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.gain


class Block(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.n1, self.n2 = RMSNorm(bug), RMSNorm(bug)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.ff = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(), nn.Linear(4 * D, D))

    def forward(self, x, blocked):  # blocked (B, 1, T, T): True where a query may not see a key
        b, n, _ = x.shape
        q, k, v = (t.view(b, n, HEADS, D // HEADS).transpose(1, 2) for t in self.qkv(self.n1(x)).chunk(3, -1))
        scores = (q @ k.transpose(-2, -1) / math.sqrt(D // HEADS)).masked_fill(blocked, float("-inf"))
        x = x + self.proj((scores.softmax(-1) @ v).transpose(1, 2).reshape(b, n, D))
        return x + self.ff(self.n2(x))


class SortingLM(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.tok, self.pos = nn.Embedding(V, D), nn.Embedding(MAX_T, D)
        nn.init.normal_(self.tok.weight, std=0.02)
        nn.init.normal_(self.pos.weight, std=0.02)
        self.blocks = nn.ModuleList([Block(bug), Block(bug)])
        self.norm = RMSNorm(bug)

    def forward(self, tokens):  # (B, T) -> (B, T, V) logits
        n = tokens.shape[1]
        real = tokens != PAD
        if self.bug == "positions_from_column_index":
            positions = torch.arange(n, device=tokens.device)[None].expand_as(tokens)  # BUG positions_from_column_index: positions are the column index, which on left-padded rows depends on the batch's padding
        else:
            positions = (real.long().cumsum(1) - 1).clamp(min=0)
        future = torch.triu(torch.ones(n, n, dtype=torch.bool, device=tokens.device), 1)
        if self.bug == "pad_mask_not_applied":
            blocked = future[None, None].expand(tokens.shape[0], 1, n, n)  # BUG pad_mask_not_applied: the key-padding mask built but never combined with the causal one
        else:
            blocked = (future[None] | ~real[:, None, :]) & ~torch.eye(n, dtype=torch.bool, device=tokens.device)[None]
            blocked = blocked[:, None]
        x = self.tok(tokens) + self.pos(positions)
        for block in self.blocks:
            x = block(x, blocked)
        return self.norm(x) @ self.tok.weight.t()


def lm_loss(logits, targets):
    return F.cross_entropy(logits.transpose(1, 2), targets)


class SorterTask:
    metrics = ("train/loss", "train/acc", "train/exact", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "sorter")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        lists = self.train[:n]
        model = SortingLM(self.bug)
        bug = self.bug
        prepared = {split: (make_batch(ls), make_batch(ls, bug), prompts(ls), torch.tensor([len(x) for x in ls]),
                            sorted_answers(ls)) for split, ls in (("train", lists[:500]), ("val", self.val))}

        def evaluate(model):
            out = {}
            device = next(model.parameters()).device
            with evaluating(model):
                for split, (scored, _, prompt, lengths, answers) in prepared.items():
                    seq, lengths, answers = prompt.to(device), lengths.to(device), answers.to(device)
                    for _ in range(answers.shape[1]):
                        seq = torch.cat([seq, model(seq)[:, -1:].argmax(-1)], 1)
                    pred = seq[:, prompt.shape[1]:]
                    real = torch.arange(answers.shape[1], device=device)[None] < lengths[:, None]
                    out[f"{split}/loss"] = lm_loss(model(scored.tokens.to(device)), scored.targets.to(device)).item()
                    out[f"{split}/acc"] = ((pred == answers) & real).sum().item() / real.sum().item()
                    out[f"{split}/exact"] = ((pred == answers) | ~real).all(1).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: make_batch([lists[i] for i in idx.tolist()], bug),
                       loss=lambda model, b: lm_loss(model(b.tokens), b.targets), evaluate=evaluate,
                       chance_loss=math.log(10), forward=lambda model, b: model(b.tokens), targets=lambda b: b.targets)


def prompts(lists: list[list[int]]) -> torch.Tensor:
    """Each list and its "=", left-padded to one width: where generation starts."""
    width = max(len(x) for x in lists) + 1
    out = torch.full((len(lists), width), PAD)
    for i, x in enumerate(lists):
        out[i, width - len(x) - 1:] = torch.tensor(x + [EQ])
    return out


def sorted_answers(lists: list[list[int]]) -> torch.Tensor:
    out = torch.full((len(lists), max(len(x) for x in lists)), -1)
    for i, x in enumerate(lists):
        out[i, :len(x)] = torch.tensor(sorted(x))
    return out
