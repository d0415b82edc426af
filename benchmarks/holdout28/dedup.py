"""Held-out-28 family 3: an LSTM encoder-decoder with masked dot attention squeezing out repeated letters.

A source is 2..6 runs of letters of 8 (a..h), neighbouring runs different, each run 1..3 long (`aaabcc`); the target
is one letter per run (`abc`) then EOS. Source ids: PAD 0, letters 1..8; target ids: PAD 0, BOS 1, EOS 2, letters
3..10. Torch seed 0: 3000 training and 500 validation pairs. Dict batches {src (B, S), src_len (B,), tgt_in (B, T),
tgt (B, T)}, right-padded; the decoder reads BOS then the target but the last (teacher forcing). Model: embeddings of
32; a batch-first LSTM encoder (128) over the padded source; an LSTM decoder (128) whose first hidden state is the
encoder's output at each source's last letter (gathered by length; cell state zeros); dot attention of each decoder
output over the encoder outputs, padding keys (position >= length) masked with -inf; a linear layer on [decoder
output; context] to the target ids. Cross-entropy, PAD ignored; Adam at 0.003. Metrics: token loss and accuracy over
non-PAD targets (train: the stage's first 400 pairs) and val/exact. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "targets_time_major", "pad_keys_unmasked", "tgt_emb_in_dict", "dropout_in_eval")
LETTERS = 8
PAD, BOS, EOS = 0, 1, 2
SRC_V, TGT_V = 1 + LETTERS, 3 + LETTERS
E, H = 32, 128
N_TRAIN, N_VAL = 3000, 500


def draw(n: int, g: torch.Generator) -> list[tuple[list[int], list[int]]]:
    out = []
    for _ in range(n):
        runs = int(torch.randint(2, 7, (1,), generator=g))
        letters, prev = [], -1
        for _ in range(runs):
            c = int(torch.randint(0, LETTERS - 1, (1,), generator=g))
            c = c + 1 if c >= prev >= 0 else c  # never the previous run's letter
            letters.append(c)
            prev = c
        src = [1 + c for c in letters for _ in range(int(torch.randint(1, 4, (1,), generator=g)))]
        out.append((src, [3 + c for c in letters] + [EOS]))
    return out


def make_batch(srcs: list, tgts: list) -> dict:
    s_w, t_w = max(len(s) for s in srcs), max(len(t) for t in tgts)
    src, tgt_in, tgt = (torch.full((len(srcs), w), PAD) for w in (s_w, t_w, t_w))
    for i, (s, t) in enumerate(zip(srcs, tgts)):
        src[i, :len(s)] = torch.tensor(s)
        tgt[i, :len(t)] = torch.tensor(t)
        tgt_in[i, :len(t)] = torch.tensor([BOS] + t[:-1])
    return {"src": src, "src_len": torch.tensor([len(s) for s in srcs]), "tgt_in": tgt_in, "tgt": tgt}


class Dedup(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.src_emb = nn.Embedding(SRC_V, E, padding_idx=PAD)
        if bug == "tgt_emb_in_dict":
            self.parts = {"tgt_emb": nn.Embedding(TGT_V, E, padding_idx=PAD)}  # BUG tgt_emb_in_dict: a plain dict
        else:
            self.tgt_emb = nn.Embedding(TGT_V, E, padding_idx=PAD)
        self.encoder = nn.LSTM(E, H, batch_first=True)
        self.decoder = nn.LSTM(E, H, batch_first=True)
        self.out = nn.Linear(2 * H, TGT_V)

    def forward(self, src, src_len, tgt_in):  # -> (B, T, TGT_V) logits
        enc, _ = self.encoder(self.src_emb(src))                                          # (B, S, H)
        if self.bug == "dropout_in_eval":
            enc = F.dropout(enc, 0.2)  # BUG dropout_in_eval: F.dropout without training=self.training
        last = enc[torch.arange(len(src), device=src.device), src_len - 1][None].contiguous()  # (1, B, H)
        emb = self.parts["tgt_emb"](tgt_in) if self.bug == "tgt_emb_in_dict" else self.tgt_emb(tgt_in)
        dec, _ = self.decoder(emb, (last, torch.zeros_like(last)))                         # (B, T, H)
        scores = dec @ enc.transpose(1, 2)                                                 # (B, T, S)
        padding = torch.arange(src.shape[1], device=src.device)[None] >= src_len[:, None]
        if self.bug == "pad_keys_unmasked":
            weights = scores.softmax(-1)  # BUG pad_keys_unmasked: the masked_fill over padding keys left out
        else:
            weights = scores.masked_fill(padding[:, None, :], float("-inf")).softmax(-1)
        return self.out(torch.cat([dec, weights @ enc], -1))


class DedupTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "dedup")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        pairs = self.train[:n]
        model = Dedup(self.bug)
        train_eval, val_eval = make_batch(*zip(*pairs[:400])), make_batch(*zip(*self.val))

        def get_batch(idx):
            chosen = [pairs[i] for i in idx.tolist()]
            return make_batch([s for s, _ in chosen], [t for _, t in chosen])

        def run(model, b):
            return model(b["src"], b["src_len"], b["tgt_in"])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    b = on_device_of(model, b)
                    out.update(sequence_metrics(split, run(model, b), b["tgt"], PAD))
            return out

        def loss(model, b):
            logits = run(model, b).flatten(0, 1)
            if self.bug == "targets_time_major":
                return F.cross_entropy(logits, b["tgt"].t().flatten(), ignore_index=PAD)  # BUG targets_time_major
            return F.cross_entropy(logits, b["tgt"].flatten(), ignore_index=PAD)

        return Problem(model=model, train_size=n, get_batch=get_batch, loss=loss, evaluate=evaluate,
                       chance_loss=math.log(TGT_V), forward=run, targets=lambda b: b["tgt"])
