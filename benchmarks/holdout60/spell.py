"""Held-out-60 family 3: a GRU encoder-decoder with dot-product (Luong) attention spelling a word of letters a..h in
a code alphabet (each letter becomes one or two code symbols, from a fixed table), under NAdam, over plain tuple batches
(src, tgt_in, tgt_out), scored by greedy decoding.

A word: 3..8 letters from a..h, uniform (torch seed 0). The table: a -> 0, b -> 1, c -> 2 3, d -> 4, e -> 5 6, f -> 7,
g -> 8 0, h -> 9 2 (ten code symbols). Source ids: PAD 0, a..h 1..8; target ids: PAD 0, BOS 1, EOS 2, symbols 3..12.
3000 training and 600 validation words. Tuple batches (src (B, S), tgt_in (B, T), tgt_out (B, T)), right-padded;
teacher forcing: seq = BOS + code + EOS, tgt_in = seq[:-1], tgt_out = seq[1:]. Model: Embedding(9, 32) and
Embedding(13, 32) (padding rows at 0); a GRU encoder (96) over the source; a GRU decoder (96) started from the
encoder's last real state; scaled dot-product attention of each decoder output over the encoder outputs (padded source
positions at -1e9); Linear(192, 13) on [decoder output, context]. Loss: cross-entropy over non-PAD targets; NAdam at
0.003, batch 32. Metrics: the teacher-forced loss, and from greedy decoding (as many steps as the batch's targets have)
token accuracy and `exact`, on the stage's first 500 words and on validation. Each bug is one line, marked
`# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "codes_paired_with_next_word", "loss_on_decoder_inputs", "attention_softmax_over_queries",
        "readout_init_std_3")
TABLE = ((0,), (1,), (2, 3), (4,), (5, 6), (7,), (8, 0), (9, 2))
PAD, BOS, EOS, LETTERS, V_SRC, V_TGT, E, H, N_TRAIN, N_VAL = 0, 1, 2, 8, 9, 13, 32, 96, 3000, 600


def draw(n: int, g: torch.Generator) -> list:
    out = []
    for _ in range(n):
        word = torch.randint(0, LETTERS, (int(torch.randint(3, 9, (1,), generator=g)),), generator=g).tolist()
        out.append(([c + 1 for c in word], [s + 3 for c in word for s in TABLE[c]]))
    return out


def make_batch(items: list):
    b = len(items)
    s_w, t_w = max(len(s) for s, _ in items), max(len(c) for _, c in items) + 1
    src, tin, tout = torch.full((b, s_w), PAD), torch.full((b, t_w), PAD), torch.full((b, t_w), PAD)
    for i, (s, c) in enumerate(items):
        src[i, :len(s)] = torch.tensor(s)
        seq = torch.tensor([BOS] + c + [EOS])
        tin[i, :len(c) + 1], tout[i, :len(c) + 1] = seq[:-1], seq[1:]
    return src, tin, tout


class Speller(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.src_emb, self.tgt_emb = nn.Embedding(V_SRC, E, padding_idx=PAD), nn.Embedding(V_TGT, E, padding_idx=PAD)
        self.enc, self.dec = nn.GRU(E, H, batch_first=True), nn.GRU(E, H, batch_first=True)
        self.out = nn.Linear(2 * H, V_TGT)
        if bug == "readout_init_std_3":
            nn.init.normal_(self.out.weight, std=3.0)  # BUG readout_init_std_3: the readout drawn at std 3 ("a wider init for a small vocabulary"; PyTorch's default is 0.04)

    def encode(self, src):
        memory, _ = self.enc(self.src_emb(src))  # (B, S, H)
        last = (src != PAD).sum(1) - 1
        return memory, memory[torch.arange(src.shape[0], device=src.device), last][None].contiguous()

    def read_out(self, q, memory, src):  # q (B, T, H) -> (B, T, V_TGT)
        scores = (q @ memory.transpose(1, 2) / math.sqrt(H)).masked_fill((src == PAD)[:, None, :], -1e9)
        if self.bug == "attention_softmax_over_queries":
            weights = scores.softmax(1)  # BUG attention_softmax_over_queries: the attention normalised over the decoder steps (dim 1), not over the source positions (dim -1)
        else:
            weights = scores.softmax(-1)
        return self.out(torch.cat([q, weights @ memory], -1))

    def forward(self, src, tgt_in):
        memory, state = self.encode(src)
        q, _ = self.dec(self.tgt_emb(tgt_in), state)
        return self.read_out(q, memory, src)

    def greedy(self, src, steps: int):
        memory, state = self.encode(src)
        token, out = torch.full((src.shape[0], 1), BOS, device=src.device), []
        for _ in range(steps):
            q, state = self.dec(self.tgt_emb(token), state)
            token = self.read_out(q, memory, src).argmax(-1)
            out.append(token)
        return torch.cat(out, 1)


def spell_loss(logits, tin, tout, bug: str = "none"):
    if bug == "loss_on_decoder_inputs":
        return F.cross_entropy(logits.reshape(-1, V_TGT), tin.reshape(-1), ignore_index=PAD)  # BUG loss_on_decoder_inputs: scored against tgt_in (the decoder's own inputs), tgt_out meant
    return F.cross_entropy(logits.reshape(-1, V_TGT), tout.reshape(-1), ignore_index=PAD)


class SpellTask:
    metrics = ("train/loss", "train/acc", "train/exact", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "spell")
        g = torch.Generator().manual_seed(0)
        words = draw(N_TRAIN + N_VAL, g)
        srcs, codes = [s for s, _ in words], [c for _, c in words]
        if self.bug == "codes_paired_with_next_word":
            pairs = list(zip(srcs, codes[1:] + codes[:1]))  # BUG codes_paired_with_next_word: the codes list shifted by one word against the sources (a header row dropped from one column only)
        else:
            pairs = list(zip(srcs, codes))
        self.train, self.val = pairs[:N_TRAIN], pairs[N_TRAIN:]

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        items = self.train[:n]
        model = Speller(self.bug)
        bug = self.bug
        train_eval, val_eval = make_batch(items[:500]), make_batch(self.val)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    src, tin, tout = (on_device_of(model, t) for t in b)
                    out[f"{split}/loss"] = spell_loss(model(src, tin), tin, tout).item()
                    pred = model.greedy(src, tout.shape[1])
                    real = tout != PAD
                    out[f"{split}/acc"] = ((pred == tout) & real).sum().item() / real.sum().item()
                    out[f"{split}/exact"] = ((pred == tout) | ~real).all(1).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: make_batch([items[i] for i in idx.tolist()]),
                       loss=lambda model, b: spell_loss(model(b[0], b[1]), b[1], b[2], bug), evaluate=evaluate,
                       chance_loss=math.log(V_TGT), forward=lambda model, b: model(b[0], b[1]),
                       targets=lambda b: b[2])
