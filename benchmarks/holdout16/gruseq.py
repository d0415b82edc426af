"""Held-out-16 family 3: a GRU encoder-decoder (no attention) that reverses a string and shifts each symbol by one.

Each example is 2..7 symbols out of 10 (the source); the target is the source reversed, each symbol replaced by the
next one (mod 10), then EOS. Ids: 0 PAD, 1 BOS, 2 EOS, symbols from 3. A batch holds the sources right-padded to the
batch's longest (`src`) with their lengths (`src_len`), the decoder input BOS + the target but its last token
(`tgt_in`) and the target (`tgt`), both right-padded. Model: one embedding (32, PAD row zero) shared by both sides;
a bidirectional GRU encoder (64 per direction) over the packed sources, its two final states concatenated (128)
as the decoder's initial state; a GRU decoder (128) with teacher forcing; a linear output. Loss: the per-token
cross-entropy written out with a mask of the real (non-PAD) target positions, summed and divided by their count.
Adam at 0.003. Dict batches {src, src_len, tgt_in, tgt}. Metrics: teacher-forced token accuracy and loss over the
non-PAD positions; goal: validation token accuracy.
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

BUGS = ("none", "loss_mask_inverted", "bidirectional_state_view", "decoder_input_sliced_like_target",
        "embedding_std_20")
PAD, BOS, EOS, SYMBOLS = 0, 1, 2, 10
VOCAB = SYMBOLS + 3
MIN_LEN, MAX_LEN, EMB, HIDDEN = 2, 7, 32, 64
DATA_SEED, N_TRAIN, N_VAL = 0, 2000, 300


def examples(n: int, g: torch.Generator):
    sources, targets = [], []
    for _ in range(n):
        length = int(torch.randint(MIN_LEN, MAX_LEN + 1, (1,), generator=g))
        src = torch.randint(SYMBOLS, (length,), generator=g)
        sources.append(src + 3)
        targets.append(torch.cat([(src.flip(0) + 1) % SYMBOLS + 3, torch.tensor([EOS])]))
    return sources, targets


def batch(sources: list[torch.Tensor], targets: list[torch.Tensor], bug: str) -> dict:
    src = nn.utils.rnn.pad_sequence(sources, batch_first=True, padding_value=PAD)
    tgt = nn.utils.rnn.pad_sequence(targets, batch_first=True, padding_value=PAD)
    bos = torch.full((len(tgt), 1), BOS)
    tgt_in = torch.cat([bos, tgt[:, :-1]], 1)
    if bug == "decoder_input_sliced_like_target":
        tgt_in = torch.cat([bos, tgt], 1)[:, 1:]  # BUG decoder_input_sliced_like_target: [:, 1:] instead of [:, :-1]
    return {"src": src, "src_len": torch.tensor([len(s) for s in sources]), "tgt_in": tgt_in, "tgt": tgt}


class Seq2Seq(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.embed = nn.Embedding(VOCAB, EMB, padding_idx=PAD)
        if bug == "embedding_std_20":
            nn.init.normal_(self.embed.weight, std=20.0)  # BUG embedding_std_20: std 20 for 1
        self.encoder = nn.GRU(EMB, HIDDEN, batch_first=True, bidirectional=True)
        self.decoder = nn.GRU(EMB, 2 * HIDDEN, batch_first=True)
        self.out = nn.Linear(2 * HIDDEN, VOCAB)

    def forward(self, src, src_len, tgt_in):  # -> (B, T, VOCAB)
        packed = nn.utils.rnn.pack_padded_sequence(self.embed(src), src_len.cpu(), batch_first=True,
                                                   enforce_sorted=False)
        _, h = self.encoder(packed)                                   # (2, B, HIDDEN): forward, backward
        state = torch.cat([h[0], h[1]], -1)[None]                     # (1, B, 2 HIDDEN)
        if self.bug == "bidirectional_state_view":
            state = h.view(1, h.shape[1], -1)  # BUG bidirectional_state_view: a view, not a concatenation
        dec, _ = self.decoder(self.embed(tgt_in), state.contiguous())
        return self.out(dec)


def masked_loss(logits, tgt, bug: str):
    ce = F.cross_entropy(logits.flatten(0, 1), tgt.flatten(), reduction="none").view_as(tgt)
    mask = (tgt != PAD).float()
    if bug == "loss_mask_inverted":
        mask = (tgt == PAD).float()  # BUG loss_mask_inverted: the padding positions kept, the real ones dropped
    return (ce * mask).sum() / mask.sum()


class GRUSeqTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "gruseq")
        g = torch.Generator().manual_seed(DATA_SEED)
        self.train, self.val = examples(N_TRAIN, g), examples(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        sources, targets = self.train[0][:n], self.train[1][:n]
        model = Seq2Seq(self.bug)
        train_eval, val_eval = batch(sources[:300], targets[:300], self.bug), batch(*self.val, self.bug)

        def forward(model, b):
            return model(b["src"], b["src_len"], b["tgt_in"])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    out.update(sequence_metrics(split, forward(model, b), b["tgt"], PAD))
            return out

        def get_batch(idx):
            return batch([sources[i] for i in idx.tolist()], [targets[i] for i in idx.tolist()], self.bug)

        return Problem(model=model, train_size=n, get_batch=get_batch,
                       loss=lambda model, b: masked_loss(forward(model, b), b["tgt"], self.bug),
                       evaluate=evaluate, chance_loss=math.log(VOCAB), forward=forward, targets=lambda b: b["tgt"])
