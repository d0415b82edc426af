"""Held-out-46 family 3: a bidirectional GRU tagger marking, in a string of digits, each digit that is a record from
the left (greater than every digit before it) and each that is a record from the right (greater than every digit
after it), over right-padded namedtuple batches with lengths.

A string: 5..14 digits 0..9 (uniform); each digit's tag: 1 if it is a left record only, 2 if a right record only, 3 if
both, else 0 (the first digit is always a left record, the last a right record). Ids: PAD 0, the digits 1..10; tags of
padding -100 (ignored). Torch seed 0 draws 3000 training and 600 validation strings. Namedtuple batches Tagged(tokens
(B, T), lengths (B,), tags (B, T)), right-padded to the batch's longest. Model: embeddings of 16 (padding_idx 0); a
bidirectional GRU (48 each way) over pack_padded_sequence(enforce_sorted=False), unpacked; Linear(96, 4) per position.
Cross-entropy over the real positions; Adam at 0.003. Metrics: token loss and accuracy over real positions (train: the
stage's first 500 strings) and val/exact. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from collections import namedtuple
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "tags_left_padded", "time_major_flatten", "gru_constant_init", "bidirectional_forgotten")
Tagged = namedtuple("Tagged", "tokens lengths tags")
PAD, IGNORE, V, TAGS, E, H = 0, -100, 11, 4, 16, 48
MIN_LEN, MAX_LEN, N_TRAIN, N_VAL = 5, 14, 3000, 600


def tag(digits: list[int]) -> list[int]:
    out = []
    for i, d in enumerate(digits):
        left = all(d > e for e in digits[:i])
        right = all(d > e for e in digits[i + 1:])
        out.append(int(left) + 2 * int(right))
    return out


def draw(n: int, g: torch.Generator) -> list[list[int]]:
    return [torch.randint(0, 10, (int(torch.randint(MIN_LEN, MAX_LEN + 1, (1,), generator=g)),), generator=g).tolist()
            for _ in range(n)]


def make_batch(strings: list, bug: str = "none") -> Tagged:
    width = max(len(s) for s in strings)
    tokens, tags = torch.full((len(strings), width), PAD), torch.full((len(strings), width), IGNORE)
    for i, s in enumerate(strings):
        tokens[i, :len(s)] = torch.tensor(s) + 1
        if bug == "tags_left_padded":
            tags[i, width - len(s):] = torch.tensor(tag(s))  # BUG tags_left_padded: the tags padded on the left, the tokens on the right
        else:
            tags[i, :len(s)] = torch.tensor(tag(s))
    return Tagged(tokens, torch.tensor([len(s) for s in strings]), tags)


class RecordTagger(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.emb = nn.Embedding(V, E, padding_idx=PAD)
        if bug == "bidirectional_forgotten":
            self.rnn = nn.GRU(E, 2 * H, batch_first=True)  # BUG bidirectional_forgotten: one direction, its width doubled so the head still fits
        else:
            self.rnn = nn.GRU(E, H, batch_first=True, bidirectional=True)
        if bug == "gru_constant_init":
            [nn.init.constant_(p, 0.5) for p in self.rnn.parameters()]  # BUG gru_constant_init: a "reproducible" constant init
        self.head = nn.Linear(2 * H, TAGS)

    def forward(self, tokens, lengths):  # (B, T) -> (B, T, 4) logits
        packed = pack_padded_sequence(self.emb(tokens), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=tokens.shape[1])
        return self.head(out)


class RecordsTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "records")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        strings = self.train[:n]
        model = RecordTagger(self.bug)
        bug = self.bug
        train_eval, val_eval = make_batch(strings[:500], bug), make_batch(self.val, bug)

        def run(model, b):
            return model(b.tokens, b.lengths)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    b = Tagged(*(on_device_of(model, t) for t in b))
                    out.update(sequence_metrics(split, run(model, b), b.tags, IGNORE))
            return out

        def loss(model, b):
            logits = run(model, b)
            if bug == "time_major_flatten":
                return F.cross_entropy(logits.transpose(0, 1).reshape(-1, TAGS), b.tags.reshape(-1))  # BUG time_major_flatten: logits flattened time-major, tags batch-major
            return F.cross_entropy(logits.reshape(-1, TAGS), b.tags.reshape(-1))

        return Problem(model=model, train_size=n,
                       get_batch=lambda idx: make_batch([strings[i] for i in idx.tolist()], bug),
                       loss=loss, evaluate=evaluate, chance_loss=math.log(TAGS), forward=run, targets=lambda b: b.tags)
