"""Held-out-17 family 3: an LSTM encoder-decoder (no attention) that copies a string with each digit incremented.

Each example is 2..6 digits (the source); the target is the same digits in the same order, each replaced by the
next one (mod 10), then EOS. Ids: 0 PAD, 1 BOS, 2 EOS, digits from 3. A batch holds the sources right-padded to
the batch's longest (`src`) with their lengths (`src_len`), the decoder input BOS + the target but its last token
(`tgt_in`) and the target (`tgt`), both right-padded. Model: a source embedding and a target embedding (32 each,
PAD rows zero); a one-layer LSTM encoder (128) over the packed sources, whose final (h, c) start a one-layer LSTM
decoder (128) with teacher forcing; a linear output. Loss: cross-entropy over the targets, PAD ignored. Adam at
0.003. Dict batches {src, src_len, tgt_in, tgt}. Metrics: teacher-forced token accuracy and loss over the non-PAD
positions; goal: validation token accuracy.
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

BUGS = ("none", "loss_target_is_decoder_input", "encoder_state_detached", "encoder_hh_std_2")
PAD, BOS, EOS, DIGITS = 0, 1, 2, 10
VOCAB = DIGITS + 3
MIN_LEN, MAX_LEN, EMB, HIDDEN = 2, 6, 32, 128
DATA_SEED, N_TRAIN, N_VAL = 0, 2000, 300


def examples(n: int, g: torch.Generator):
    sources, targets = [], []
    for _ in range(n):
        length = int(torch.randint(MIN_LEN, MAX_LEN + 1, (1,), generator=g))
        src = torch.randint(DIGITS, (length,), generator=g)
        sources.append(src + 3)
        targets.append(torch.cat([(src + 1) % DIGITS + 3, torch.tensor([EOS])]))
    return sources, targets


def batch(sources: list[torch.Tensor], targets: list[torch.Tensor]) -> dict:
    src = nn.utils.rnn.pad_sequence(sources, batch_first=True, padding_value=PAD)
    tgt = nn.utils.rnn.pad_sequence(targets, batch_first=True, padding_value=PAD)
    tgt_in = torch.cat([torch.full((len(tgt), 1), BOS), tgt[:, :-1]], 1)
    return {"src": src, "src_len": torch.tensor([len(s) for s in sources]), "tgt_in": tgt_in, "tgt": tgt}


class EncoderDecoder(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.src_embed = nn.Embedding(VOCAB, EMB, padding_idx=PAD)
        self.tgt_embed = nn.Embedding(VOCAB, EMB, padding_idx=PAD)
        self.encoder = nn.LSTM(EMB, HIDDEN, batch_first=True)
        self.decoder = nn.LSTM(EMB, HIDDEN, batch_first=True)
        self.out = nn.Linear(HIDDEN, VOCAB)
        if bug == "encoder_hh_std_2":
            nn.init.normal_(self.encoder.weight_hh_l0, std=2.0)  # BUG encoder_hh_std_2: N(0, 2^2) for the default U(+-0.088)

    def forward(self, src, src_len, tgt_in):  # -> (B, T, VOCAB)
        packed = nn.utils.rnn.pack_padded_sequence(self.src_embed(src), src_len.cpu(), batch_first=True,
                                                   enforce_sorted=False)
        _, (h, c) = self.encoder(packed)                              # (1, B, HIDDEN) each
        if self.bug == "encoder_state_detached":
            h, c = h.detach(), c.detach()  # BUG encoder_state_detached: the encoder's state cut from the graph
        dec, _ = self.decoder(self.tgt_embed(tgt_in), (h, c))
        return self.out(dec)


class LSTMCopyTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "lstmcopy")
        g = torch.Generator().manual_seed(DATA_SEED)
        self.train, self.val = examples(N_TRAIN, g), examples(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        sources, targets = self.train[0][:n], self.train[1][:n]
        model = EncoderDecoder(self.bug)
        train_eval, val_eval = batch(sources[:300], targets[:300]), batch(*self.val)

        def forward(model, b):
            return model(b["src"], b["src_len"], b["tgt_in"])

        def loss(model, b):
            target = b["tgt"]
            if self.bug == "loss_target_is_decoder_input":
                target = b["tgt_in"]  # BUG loss_target_is_decoder_input: the unshifted decoder input as the target
            return F.cross_entropy(forward(model, b).flatten(0, 1), target.flatten(), ignore_index=PAD)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    out.update(sequence_metrics(split, forward(model, b), b["tgt"], PAD))
            return out

        def get_batch(idx):
            return batch([sources[i] for i in idx.tolist()], [targets[i] for i in idx.tolist()])

        return Problem(model=model, train_size=n, get_batch=get_batch, loss=loss, evaluate=evaluate,
                       chance_loss=math.log(VOCAB), forward=forward, targets=lambda b: b["tgt"])
