"""Held-out-10 family 2: a GRU encoder-decoder with additive (Bahdanau) attention that reverses digit sequences.

The source is 7 digits (0..9); the target is the same digits reversed. The encoder embeds them (32) and runs a GRU
(64); the decoder is a GRU cell (64) whose input is the previous target digit's embedding (the start token 10 first)
and the attention context: scores v . tanh(W_enc h_s + W_dec s_{t-1}) over the 7 encoder states, a softmax over the
source positions, their weighted sum. The output layer reads the new state and the context. Training uses teacher
forcing (the decoder input is the target shifted right by one); the validation metrics decode greedily (each step
fed its own previous prediction): per-digit accuracy `val/acc` and whole-sequence `val/exact`. Tuple batches
(source, decoder input, target). Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "tgt_in_not_shifted", "attention_over_batch", "encoder_detached")
DIGITS, START, LENGTH = 10, 10, 7
EMBED, HIDDEN, ATTN = 32, 64, 64
TRAIN_SEED, VAL_SEED = 0, 1


def pairs(n: int, seed: int, bug: str = "none") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(0, DIGITS, (n, LENGTH), generator=g)
    tgt = src.flip(1)
    tgt_in = torch.cat([torch.full((n, 1), START), tgt[:, :-1]], 1)
    if bug == "tgt_in_not_shifted":
        tgt_in = tgt  # BUG tgt_in_not_shifted: the decoder is fed the very digit it must predict
    return src, tgt_in, tgt


class AttentionSeq2Seq(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.src_embed = nn.Embedding(DIGITS, EMBED)
        self.encoder = nn.GRU(EMBED, HIDDEN, batch_first=True)
        self.tgt_embed = nn.Embedding(DIGITS + 1, EMBED)
        self.w_enc, self.w_dec = nn.Linear(HIDDEN, ATTN, bias=False), nn.Linear(HIDDEN, ATTN)
        self.v = nn.Linear(ATTN, 1, bias=False)
        self.decoder = nn.GRUCell(EMBED + HIDDEN, HIDDEN)
        self.out = nn.Linear(2 * HIDDEN, DIGITS)

    def encode(self, src):
        enc, h = self.encoder(self.src_embed(src))
        if self.bug == "encoder_detached":
            enc, h = enc.detach(), h.detach()  # BUG encoder_detached: "no need to backprop into the encoder"
        return enc, self.w_enc(enc), h[0]

    def step(self, token, state, enc, keys):  # one decoder step -> (logits (B, 10), new state)
        scores = self.v(torch.tanh(keys + self.w_dec(state)[:, None])).squeeze(-1)  # (B, S)
        if self.bug == "attention_over_batch":
            weights = scores.softmax(0)  # BUG attention_over_batch: normalised over the batch, not the source
        else:
            weights = scores.softmax(1)
        context = (weights[:, :, None] * enc).sum(1)
        state = self.decoder(torch.cat([self.tgt_embed(token), context], -1), state)
        return self.out(torch.cat([state, context], -1)), state

    def forward(self, src, tgt_in):  # teacher forcing: (B, S), (B, T) -> (B, T, 10) logits
        enc, keys, state = self.encode(src)
        logits = []
        for t in range(tgt_in.shape[1]):
            step_logits, state = self.step(tgt_in[:, t], state, enc, keys)
            logits.append(step_logits)
        return torch.stack(logits, 1)

    def greedy(self, src, length: int) -> torch.Tensor:  # (B, S) -> (B, length) digits, each fed back
        enc, keys, state = self.encode(src)
        token, out = torch.full((len(src),), START), []
        for _ in range(length):
            step_logits, state = self.step(token, state, enc, keys)
            token = step_logits.argmax(-1)
            out.append(token)
        return torch.stack(out, 1)


def sequence_loss(logits, tgt):
    return F.cross_entropy(logits.flatten(0, 1), tgt.flatten())


class BahdanauTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none", n_train: int = 2000, n_val: int = 500):
        self.bug = check_bug(bug, BUGS, "bahdanau")
        self.train = pairs(n_train, TRAIN_SEED, bug)
        self.val = pairs(n_val, VAL_SEED, bug)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.train[0]))
        train = tuple(t[:n] for t in self.train)
        model = AttentionSeq2Seq(self.bug)

        def evaluate(model):
            with evaluating(model):
                src, tgt_in, tgt = train
                logits = model(src, tgt_in)
                out = {"train/loss": sequence_loss(logits, tgt).item(),
                       "train/acc": (logits.argmax(-1) == tgt).float().mean().item()}  # teacher-forced
                src, tgt_in, tgt = self.val
                out["val/loss"] = sequence_loss(model(src, tgt_in), tgt).item()  # teacher-forced
                right = model.greedy(src, tgt.shape[1]) == tgt
                out["val/acc"] = right.float().mean().item()
                out["val/exact"] = right.all(1).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: tuple(t[idx] for t in train),
                       loss=lambda model, batch: sequence_loss(model(batch[0], batch[1]), batch[2]),
                       evaluate=evaluate, chance_loss=math.log(DIGITS),
                       forward=lambda model, batch: model(batch[0], batch[1]), targets=lambda batch: batch[2])
