"""Held-out-18 family 3: a GRU encoder-decoder with Luong ("general") attention that sorts digit strings.

Each example is 3..8 digits (the source, uniform length and digits); the target is the same digits in ascending
order, then EOS. Ids: 0 PAD, 1 BOS, 2 EOS, digits from 3. A batch holds the sources right-padded (`src`) with
their lengths (`src_len`), the decoder input BOS + the target but its last token (`tgt_in`) and the target
(`tgt`), both right-padded. Model: source and target embeddings (32, PAD rows zero); a one-layer GRU encoder (96)
over the packed sources; its final state starts a one-layer GRU decoder (96) run with teacher forcing; attention
scores dec_t . W enc_s over the source positions, padding keys set to -1e9 by masked_fill, softmax over the
source positions; the context and the decoder state concatenated -> linear 192 -> 96 - tanh -> linear to the
vocabulary. Loss: cross-entropy over the targets, PAD ignored. Adam at 0.003. Dict batches {src, src_len, tgt_in,
tgt}. Metrics: teacher-forced token accuracy and loss over non-PAD positions; goal: validation token accuracy.
Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "src_len_padded", "attention_softmax_over_steps", "decoder_normal_init", "nll_on_logits")
PAD, BOS, EOS, DIGITS = 0, 1, 2, 10
VOCAB = DIGITS + 3
MIN_LEN, MAX_LEN, EMB, HIDDEN = 3, 8, 32, 96
DATA_SEED, N_TRAIN, N_VAL = 0, 2000, 300


def examples(n: int, g: torch.Generator):
    sources, targets = [], []
    for _ in range(n):
        length = int(torch.randint(MIN_LEN, MAX_LEN + 1, (1,), generator=g))
        src = torch.randint(DIGITS, (length,), generator=g) + 3
        sources.append(src)
        targets.append(torch.cat([src.sort().values, torch.tensor([EOS])]))
    return sources, targets


def make_batch(sources: list[torch.Tensor], targets: list[torch.Tensor], bug: str) -> dict:
    src = nn.utils.rnn.pad_sequence(sources, batch_first=True, padding_value=PAD)
    tgt = nn.utils.rnn.pad_sequence(targets, batch_first=True, padding_value=PAD)
    tgt_in = torch.cat([torch.full((len(tgt), 1), BOS), tgt[:, :-1]], 1)
    src_len = torch.tensor([len(s) for s in sources])
    if bug == "src_len_padded":
        src_len = torch.full((len(sources),), src.shape[1])  # BUG src_len_padded: the padded length given for every source
    return {"src": src, "src_len": src_len, "tgt_in": tgt_in, "tgt": tgt}


class Sorter(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.src_embed = nn.Embedding(VOCAB, EMB, padding_idx=PAD)
        self.tgt_embed = nn.Embedding(VOCAB, EMB, padding_idx=PAD)
        self.encoder = nn.GRU(EMB, HIDDEN, batch_first=True)
        self.decoder = nn.GRU(EMB, HIDDEN, batch_first=True)
        if bug == "decoder_normal_init":
            for w in (self.decoder.weight_ih_l0, self.decoder.weight_hh_l0): nn.init.normal_(w)  # noqa: E701  BUG decoder_normal_init: normal_ without its std (1 for ~0.06)
        self.score = nn.Linear(HIDDEN, HIDDEN, bias=False)
        self.combine = nn.Linear(2 * HIDDEN, HIDDEN)
        self.out = nn.Linear(HIDDEN, VOCAB)

    def forward(self, src, src_len, tgt_in):  # -> (B, T, VOCAB)
        packed = nn.utils.rnn.pack_padded_sequence(self.src_embed(src), src_len.cpu(), batch_first=True,
                                                   enforce_sorted=False)
        enc, h = self.encoder(packed)
        enc, _ = nn.utils.rnn.pad_packed_sequence(enc, batch_first=True, total_length=src.shape[1])  # (B, S, H)
        dec, _ = self.decoder(self.tgt_embed(tgt_in), h)                                              # (B, T, H)
        scores = dec @ self.score(enc).transpose(1, 2)                                                # (B, T, S)
        scores = scores.masked_fill((src == PAD)[:, None, :], -1e9)
        weights = scores.softmax(-1)
        if self.bug == "attention_softmax_over_steps":
            weights = scores.softmax(1)  # BUG attention_softmax_over_steps: normalised over the decoder steps, not the source positions
        context = weights @ enc                                                                       # (B, T, H)
        return self.out(torch.tanh(self.combine(torch.cat([dec, context], -1))))


class GSortTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "gsort")
        g = torch.Generator().manual_seed(DATA_SEED)
        self.train, self.val = examples(N_TRAIN, g), examples(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        sources, targets = self.train[0][:n], self.train[1][:n]
        model = Sorter(self.bug)
        train_eval, val_eval = make_batch(sources[:300], targets[:300], self.bug), make_batch(*self.val, self.bug)

        def forward(model, b):
            return model(b["src"], b["src_len"], b["tgt_in"])

        def loss(model, b):
            logits = forward(model, b).flatten(0, 1)
            if self.bug == "nll_on_logits":
                return F.nll_loss(logits, b["tgt"].flatten(), ignore_index=PAD)  # BUG nll_on_logits: nll_loss on raw logits (no log_softmax)
            return F.cross_entropy(logits, b["tgt"].flatten(), ignore_index=PAD)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    out.update(sequence_metrics(split, forward(model, b), b["tgt"], PAD))
            return out

        def get_batch(idx):
            return make_batch([sources[i] for i in idx.tolist()], [targets[i] for i in idx.tolist()], self.bug)

        return Problem(model=model, train_size=n, get_batch=get_batch, loss=loss, evaluate=evaluate,
                       chance_loss=math.log(VOCAB), forward=forward, targets=lambda b: b["tgt"])
