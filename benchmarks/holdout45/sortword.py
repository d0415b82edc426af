"""Held-out-45 family 3: a GRU encoder-decoder with dot-product (Luong) attention that sorts a word's letters, over
dataclass batches.

A word: 3..8 letters of ten, repeats allowed (uniform); the target: its letters in alphabetical order, then EOS. Ids
(one vocabulary): PAD 0, BOS 1, EOS 2, the letters 3..12. Torch seed 0 draws 3000 training and 500 validation words.
Dataclass batches Words(src (B, S), src_len (B,), tgt_in (B, T), tgt (B, T)), right-padded; teacher forcing (tgt_in
is BOS then the target but its last token). Model: embeddings of 64 (shared, padding_idx 0); a GRU encoder (96) over
the padded source, its state read at each word's last letter (src_len - 1); a GRU decoder (96) from that state;
attention softmax(s_t . e_j / sqrt(96)) with PAD keys at -inf; Linear(192, 13) on [state, context]. Loss: the
summed token cross-entropy over non-PAD targets divided by their count; Adam at 0.003. Metrics: token loss and
accuracy over non-PAD targets (train: the stage's first 400 words) and val/exact. Each bug is one line, marked
`# BUG <name>`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "source_cut_at_7", "mask_from_len_minus_1", "time_major_flatten", "embedding_times_sqrt_d")
PAD, BOS, EOS, LETTERS, V = 0, 1, 2, 10, 13
MIN_LEN, MAX_LEN, E, H = 3, 8, 64, 96
N_TRAIN, N_VAL = 3000, 500


@dataclass
class Words:
    src: torch.Tensor
    src_len: torch.Tensor
    tgt_in: torch.Tensor
    tgt: torch.Tensor

    def to(self, device):
        return Words(*(t.to(device) for t in (self.src, self.src_len, self.tgt_in, self.tgt)))


def draw(n: int, g: torch.Generator) -> list[list[int]]:
    return [(torch.randint(0, LETTERS, (int(torch.randint(MIN_LEN, MAX_LEN + 1, (1,), generator=g)),), generator=g)
             + 3).tolist() for _ in range(n)]


def make_batch(words: list, bug: str = "none") -> Words:
    s_w, t_w = max(len(w) for w in words), max(len(w) for w in words) + 1
    src, tgt_in, tgt = (torch.full((len(words), w), PAD) for w in (s_w, t_w, t_w))
    for i, w in enumerate(words):
        t = sorted(w) + [EOS]
        if bug == "source_cut_at_7":
            w = w[:MAX_LEN - 1]  # BUG source_cut_at_7: a max source length of 7 from the config, the targets keep all 8 letters
        src[i, :len(w)] = torch.tensor(w)
        tgt_in[i, :len(t)], tgt[i, :len(t)] = torch.tensor([BOS] + t[:-1]), torch.tensor(t)
    return Words(src, (src != PAD).sum(1), tgt_in, tgt)


class Sorter(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.emb = nn.Embedding(V, E, padding_idx=PAD)
        self.enc, self.dec = nn.GRU(E, H, batch_first=True), nn.GRU(E, H, batch_first=True)
        self.out = nn.Linear(2 * H, V)

    def embed(self, ids):
        if self.bug == "embedding_times_sqrt_d":
            return self.emb(ids) * math.sqrt(E)  # BUG embedding_times_sqrt_d: a Transformer's scaling, into GRU gates
        return self.emb(ids)

    def forward(self, b: Words):  # -> (B, T, V)
        enc, _ = self.enc(self.embed(b.src))
        state = enc[torch.arange(len(enc), device=enc.device), b.src_len - 1][None].contiguous()
        dec, _ = self.dec(self.embed(b.tgt_in), state)
        scores = dec @ enc.transpose(1, 2) / math.sqrt(H)  # (B, T, S)
        places = torch.arange(b.src.shape[1], device=b.src.device)[None]
        if self.bug == "mask_from_len_minus_1":
            pad = places >= b.src_len[:, None] - 1  # BUG mask_from_len_minus_1: an off-by-one, each word's last letter masked with the padding
        else:
            pad = places >= b.src_len[:, None]
        scores = scores.masked_fill(pad[:, None, :], float("-inf"))
        context = scores.softmax(-1) @ enc
        return self.out(torch.cat([dec, context], -1))


def token_loss(logits: torch.Tensor, tgt: torch.Tensor, bug: str = "none") -> torch.Tensor:
    if bug == "time_major_flatten":
        flat = logits.transpose(0, 1).reshape(-1, V)  # BUG time_major_flatten: (T, B) order against batch-first targets
    else:
        flat = logits.reshape(-1, V)
    return F.cross_entropy(flat, tgt.reshape(-1), ignore_index=PAD, reduction="sum") / (tgt != PAD).sum()


class SortWordTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "sortword")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        words, bug = self.train[:n], self.bug
        model = Sorter(bug)
        train_eval, val_eval = make_batch(words[:400], bug), make_batch(self.val, bug)

        def evaluate(model):
            out = {}
            device = next(model.parameters()).device
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    b = b.to(device)
                    out.update(sequence_metrics(split, model(b), b.tgt, PAD))
            return out

        return Problem(model=model, train_size=n,
                       get_batch=lambda idx: make_batch([words[i] for i in idx.tolist()], bug),
                       loss=lambda model, b: token_loss(model(b), b.tgt, bug), evaluate=evaluate,
                       chance_loss=math.log(V), forward=lambda model, b: model(b), targets=lambda b: b.tgt)
