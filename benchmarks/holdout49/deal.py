"""Held-out-49 family 3: a GRU encoder-decoder with dot-product attention "dealing" a word: the letters at the odd
positions first, then those at the even positions (abcdefg -> acegbdf), over plain tuple batches.

A word: 3..9 letters of an alphabet of 12 (uniform). Ids: PAD 0, BOS 1, EOS 2, letters 3..14. Torch seed 0 draws 3000
training and 600 validation words. Tuple batches (src (B, S), tgt_in (B, T), tgt_out (B, T)), right-padded with PAD:
tgt_in = BOS + the dealt word, tgt_out = the dealt word + EOS. Model: a shared Embedding(15, 32); encoder GRU(32, 128)
(batch_first) over the padded source, its state at each word's last letter starting the decoder GRU(32, 128) run over
tgt_in (teacher forcing); Luong dot attention of each decoder output over the encoder outputs (padded source positions
at -inf); Linear(256, 15) on [decoder output; context]. Cross-entropy over the non-PAD targets; Adam at 0.003.
Metrics (teacher forced): loss, token accuracy and `exact` (every token right) on the stage's first 500 words and on
validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "decoder_input_unshifted", "log_softmax_over_time", "weights_zeroed_by_name", "memory_detached")
PAD, BOS, EOS, LETTERS, E, H, N_TRAIN, N_VAL = 0, 1, 2, 12, 32, 128, 3000, 600
VOCAB = LETTERS + 3


def draw(n: int, g: torch.Generator) -> list:
    out = []
    for _ in range(n):
        length = int(torch.randint(3, 10, (1,), generator=g))
        word = (torch.randint(0, LETTERS, (length,), generator=g) + 3).tolist()
        out.append((word, word[0::2] + word[1::2]))
    return out


def make_batch(items: list, bug: str = "none"):
    s_w, t_w = max(len(s) for s, _ in items), max(len(t) for _, t in items) + 1
    src, tin, tout = (torch.full((len(items), w), PAD) for w in (s_w, t_w, t_w))
    for i, (s, t) in enumerate(items):
        src[i, :len(s)] = torch.tensor(s)
        if bug == "decoder_input_unshifted":
            tin[i, :len(t) + 1] = torch.tensor(t + [EOS])  # BUG decoder_input_unshifted: the decoder input is the target itself, the BOS shift forgotten
        else:
            tin[i, :len(t) + 1] = torch.tensor([BOS] + t)
        tout[i, :len(t) + 1] = torch.tensor(t + [EOS])
    return src, tin, tout


class Dealer(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.emb = nn.Embedding(VOCAB, E, padding_idx=PAD)
        self.enc, self.dec = nn.GRU(E, H, batch_first=True), nn.GRU(E, H, batch_first=True)
        self.out = nn.Linear(2 * H, VOCAB)
        if bug == "weights_zeroed_by_name":
            [nn.init.zeros_(p) for name, p in self.named_parameters() if "weight" in name]  # BUG weights_zeroed_by_name: the init loop zeroes the parameters named 'weight' where 'bias' was meant

    def forward(self, src, tin):  # (B, S), (B, T) -> (B, T, VOCAB) logits
        real = src != PAD
        mem, _ = self.enc(self.emb(src))                               # (B, S, H)
        if self.bug == "memory_detached":
            mem = mem.detach()  # BUG memory_detached: the encoder outputs detached (a cache for decoding kept the .detach())
        last = mem[torch.arange(len(src)), real.sum(1) - 1]            # state at each word's last letter
        dec, _ = self.dec(self.emb(tin), last[None].contiguous())      # (B, T, H)
        s = (dec @ mem.transpose(1, 2)).masked_fill(~real[:, None, :], float("-inf"))
        ctx = s.softmax(-1) @ mem
        return self.out(torch.cat([dec, ctx], -1))


def deal_loss(logits, tout, bug: str = "none"):
    if bug == "log_softmax_over_time":
        return F.nll_loss(logits.log_softmax(1).flatten(0, 1), tout.flatten(), ignore_index=PAD)  # BUG log_softmax_over_time: log_softmax(1) over the (B, T, V) logits' time axis where -1 (the vocabulary) was meant
    return F.cross_entropy(logits.flatten(0, 1), tout.flatten(), ignore_index=PAD)


class DealTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "deal")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        items = self.train[:n]
        model = Dealer(self.bug)
        bug = self.bug
        train_eval, val_eval = make_batch(items[:500]), make_batch(self.val)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    src, tin, tout = (on_device_of(model, t) for t in b)
                    out.update(sequence_metrics(split, model(src, tin), tout, PAD))
            return out

        return Problem(model=model, train_size=n,
                       get_batch=lambda idx: make_batch([items[i] for i in idx.tolist()], bug),
                       loss=lambda model, b: deal_loss(model(b[0], b[1]), b[2], bug), evaluate=evaluate,
                       chance_loss=math.log(VOCAB), forward=lambda model, b: model(b[0], b[1]),
                       targets=lambda b: b[2])
