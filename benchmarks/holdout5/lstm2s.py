"""Held-out-5 family 3: an LSTM encoder-decoder that sorts variable-length token sequences, teacher forcing.

Source: 2..7 symbols from 1..SYMBOLS then EOS, padded; target: BOS, the symbols sorted ascending, EOS. The
encoder reads the packed source; a tanh bridge maps its final (h, c) to the decoder's initial state. Batches are
dicts: `inp`, `inp_len`, `dec_in` (target[:-1]) and `out` (target[1:], padding set to ignore_index). Each bug is
one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from benchmarks.bugsuite.common import check_bug, evaluating, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "target_is_dec_in", "bridge_in_forward", "emb_std_is_dim", "emb_unit_norm")
PAD, SYMBOLS, MIN_LEN, MAX_LEN, IGNORE = 0, 6, 2, 7, -100
EOS, BOS = SYMBOLS + 1, SYMBOLS + 2
VOCAB, EMB, HIDDEN = SYMBOLS + 3, 32, 64


def sorting_pairs(n: int, seed: int, bug: str) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    inp = torch.full((n, MAX_LEN + 1), PAD)
    tgt = torch.full((n, MAX_LEN + 2), PAD)
    lengths = torch.randint(MIN_LEN, MAX_LEN + 1, (n,), generator=g)
    for i, length in enumerate(lengths.tolist()):
        seq = torch.randint(1, SYMBOLS + 1, (length,), generator=g)
        inp[i, :length], inp[i, length] = seq, EOS
        tgt[i, 0], tgt[i, 1:length + 1], tgt[i, length + 1] = BOS, seq.sort().values, EOS
    dec_in, out = tgt[:, :-1], tgt[:, 1:]
    if bug == "target_is_dec_in":
        out = tgt[:, :-1]  # BUG target_is_dec_in: the target sliced like the decoder input (no shift)
    return {"inp": inp, "inp_len": lengths + 1, "dec_in": dec_in.clone(),
            "out": out.masked_fill(out == PAD, IGNORE)}


class SortSeq2Seq(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.enc_emb = nn.Embedding(VOCAB, EMB, padding_idx=PAD)
        self.dec_emb = nn.Embedding(VOCAB, EMB, padding_idx=PAD)
        if bug == "emb_std_is_dim":
            nn.init.normal_(self.enc_emb.weight, std=EMB)  # BUG emb_std_is_dim: std=EMB where 1 was meant
        self.encoder = nn.LSTM(EMB, HIDDEN, batch_first=True)
        self.decoder = nn.LSTM(EMB, HIDDEN, batch_first=True)
        self.bridge = nn.Linear(2 * HIDDEN, 2 * HIDDEN)
        self.out = nn.Linear(HIDDEN, VOCAB)

    def embed(self, emb: nn.Embedding, ids):
        e = emb(ids)
        if self.bug == "emb_unit_norm":
            e = e / e.norm(dim=-1, keepdim=True)  # BUG emb_unit_norm: "cosine embeddings"; the PAD row is 0
        return e

    def forward(self, inp, inp_len, dec_in):
        packed = pack_padded_sequence(self.embed(self.enc_emb, inp), inp_len.cpu(), batch_first=True,
                                      enforce_sorted=False)
        _, (h, c) = self.encoder(packed)  # (1, B, H) each: the state at each source's EOS
        bridge = self.bridge
        if self.bug == "bridge_in_forward":
            bridge = nn.Linear(2 * HIDDEN, 2 * HIDDEN)  # BUG bridge_in_forward: a fresh layer at every call
        h0, c0 = torch.tanh(bridge(torch.cat([h, c], -1))).chunk(2, -1)
        dec, _ = self.decoder(self.embed(self.dec_emb, dec_in), (h0.contiguous(), c0.contiguous()))
        return self.out(dec)  # (B, T, VOCAB)


class LSTM2STask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none", n_train: int = 3000, n_val: int = 500):
        self.bug = check_bug(bug, BUGS, "lstm2s")
        self.train, self.val = sorting_pairs(n_train, 0, self.bug), sorting_pairs(n_val, 1, self.bug)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.train["inp"]))
        train = {k: v[:n] for k, v in self.train.items()}
        model = SortSeq2Seq(self.bug)

        def forward(model, batch):
            return model(batch["inp"], batch["inp_len"], batch["dec_in"])

        def loss(model, batch):
            return F.cross_entropy(forward(model, batch).flatten(0, 1), batch["out"].flatten(), ignore_index=IGNORE)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, data in (("train", train), ("val", self.val)):
                    out.update(sequence_metrics(split, forward(model, data), data["out"], IGNORE))
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: {k: v[idx] for k, v in train.items()},
                       loss=loss, evaluate=evaluate, chance_loss=math.log(VOCAB), forward=forward,
                       targets=lambda batch: batch["out"], best_loss=0.0)
