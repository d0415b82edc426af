"""Held-out-20 family 3: a GRU encoder-decoder with dot-product attention decoding run-length codes.

Each source is 2..4 pairs (a letter a..f, a count 1..3), e.g. "a3b1c2" (4..8 tokens); the target is its
expansion "aaabcc" then EOS (3..13 tokens). Ids: 0 PAD, 1 BOS, 2 EOS, letters 3..8, counts 9..11. A batch holds
the sources right-padded (`src`) with their lengths (`src_len`), the decoder input BOS + the target but its last
token (`tgt_in`) and the target (`tgt`), both right-padded. Model: a shared embedding (32, PAD row zero); a
bidirectional GRU encoder (2 x 64) over the packed sources; its final states (both directions) -> linear - tanh
start a GRUCell decoder (128, input feeding: the previous context beside the token embedding), run with teacher
forcing; attention scores (W s_t) . enc_j / sqrt(128) over the source positions, positions >= src_len set to -inf
by masked_fill, a softmax over them; dropout 0.1 on [s_t; context] -> linear to the vocabulary. Loss:
cross-entropy over the targets, PAD ignored. Adam at 0.003. Dict batches {src, src_len, tgt_in, tgt}. Metrics:
teacher-forced token accuracy and loss; goal: validation token accuracy.
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

BUGS = ("none", "targets_sorted_by_length", "targets_rolled_left", "forward_sets_train_mode", "src_mask_le_len")
PAD, BOS, EOS, LETTERS, COUNTS = 0, 1, 2, 6, 3
VOCAB = 3 + LETTERS + COUNTS
EMB, ENC, DEC = 32, 64, 128
DATA_SEED, N_TRAIN, N_VAL = 0, 3000, 400


def examples(n: int, g: torch.Generator):
    sources, targets = [], []
    for _ in range(n):
        pairs = int(torch.randint(2, 5, (1,), generator=g))
        letters = torch.randint(LETTERS, (pairs,), generator=g) + 3
        counts = torch.randint(1, COUNTS + 1, (pairs,), generator=g)
        sources.append(torch.stack([letters, counts + 2 + LETTERS], 1).flatten())
        targets.append(torch.cat([letters.repeat_interleave(counts), torch.tensor([EOS])]))
    return sources, targets


def make_batch(sources, targets, bug: str = "none") -> dict:
    if bug == "targets_sorted_by_length":
        targets = sorted(targets, key=len, reverse=True)  # noqa: E501  BUG targets_sorted_by_length: the targets sorted by length (for packing) while the sources keep their order
    src = nn.utils.rnn.pad_sequence(sources, batch_first=True, padding_value=PAD)
    tgt = nn.utils.rnn.pad_sequence(targets, batch_first=True, padding_value=PAD)
    tgt_in = torch.cat([torch.full((len(tgt), 1), BOS), tgt[:, :-1]], 1)
    return {"src": src, "src_len": torch.tensor([len(s) for s in sources]), "tgt_in": tgt_in, "tgt": tgt}


class RLEDecoder(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.embed = nn.Embedding(VOCAB, EMB, padding_idx=PAD)
        self.encoder = nn.GRU(EMB, ENC, batch_first=True, bidirectional=True)
        self.bridge = nn.Linear(2 * ENC, DEC)
        self.cell = nn.GRUCell(EMB + 2 * ENC, DEC)
        self.query = nn.Linear(DEC, 2 * ENC, bias=False)
        self.drop = nn.Dropout(0.1)
        self.out = nn.Linear(DEC + 2 * ENC, VOCAB)

    def forward(self, src, src_len, tgt_in):  # -> (B, T, VOCAB)
        if self.bug == "forward_sets_train_mode":
            self.train()  # noqa: E501  BUG forward_sets_train_mode: forward switches the model to training mode (meant for a fine-tuning helper)
        positions = torch.arange(src.shape[1], device=src.device)[None, :]
        pad = positions >= src_len[:, None].to(src.device)
        if self.bug == "src_mask_le_len":
            pad = positions > src_len[:, None].to(src.device)  # noqa: E501  BUG src_mask_le_len: > for >=: the first padding position is attended
        packed = nn.utils.rnn.pack_padded_sequence(self.embed(src), src_len.cpu(), batch_first=True,
                                                   enforce_sorted=False)
        enc, h = self.encoder(packed)
        enc, _ = nn.utils.rnn.pad_packed_sequence(enc, batch_first=True, total_length=src.shape[1])
        s = torch.tanh(self.bridge(torch.cat([h[0], h[1]], -1)))
        context = enc.new_zeros(len(src), 2 * ENC)
        outputs = []
        for t in range(tgt_in.shape[1]):
            s = self.cell(torch.cat([self.embed(tgt_in[:, t]), context], -1), s)
            scores = (enc @ self.query(s)[:, :, None]).squeeze(-1) / math.sqrt(2 * ENC)  # (B, S)
            weights = scores.masked_fill(pad, float("-inf")).softmax(-1)
            context = (weights[:, :, None] * enc).sum(1)
            outputs.append(self.out(self.drop(torch.cat([s, context], -1))))
        return torch.stack(outputs, 1)


class RLETask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "rle")
        g = torch.Generator().manual_seed(DATA_SEED)
        self.train, self.val = examples(N_TRAIN, g), examples(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        sources, targets = self.train[0][:n], self.train[1][:n]
        model = RLEDecoder(self.bug)
        train_eval, val_eval = make_batch(sources[:400], targets[:400]), make_batch(*self.val)

        def forward(model, b):
            return model(b["src"], b["src_len"], b["tgt_in"])

        def loss(model, b):
            logits = forward(model, b).flatten(0, 1)
            if self.bug == "targets_rolled_left":
                return F.cross_entropy(logits, b["tgt"].roll(-1, 1).flatten(), ignore_index=PAD)  # noqa: E501  BUG targets_rolled_left: the targets rolled left along time: each step scored against the token after its own
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
