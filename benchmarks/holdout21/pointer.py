"""Held-out-21 family 2: a recurrent pointer network (LSTM encoder, LSTM decoder) that sorts numbers.

Each source is 5..9 numbers uniform in [-1, 1) (torch seed 0; 3000 training, 400 validation), right-padded with
0; the target is the source positions in ascending order of value (`argsort`), right-padded with -100. A batch is
a dict {src (B, T), src_len (B,), tgt_in (B, T): the value pointed at the step before (0 at the first step, then
the sorted values but the last), tgt (B, T)}. Model (hidden 64): each number through linear(1, 64) into an LSTM
encoder (batch_first; right padding leaves the real steps' states as they are); the decoder's first state is the
encoder's state at each source's last real step; the decoder reads a learned start vector, then linear(1, 64) of
the value it pointed at before (teacher forcing); additive attention v . tanh(W1 e_j + W2 d_t) over the encoder
states, positions >= src_len set to -1e9 (masked_fill), a log_softmax over the source positions is the output
distribution. Loss: NLL of the target positions, -100 ignored. Adam at 0.003. Metrics: pointer accuracy per step
and loss (train on the first 400 examples), exact sorted sequences (val); goal: validation step accuracy.
Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "mask_after_log_softmax", "ranks_for_order", "encoder_not_batch_first", "ce_classes_on_dim1")
IGNORE, H = -100, 64
MIN_N, MAX_N = 5, 9
DATA_SEED, N_TRAIN, N_VAL = 0, 3000, 400


def examples(n: int, g: torch.Generator) -> list[torch.Tensor]:
    return [torch.rand(int(torch.randint(MIN_N, MAX_N + 1, (1,), generator=g)), generator=g) * 2 - 1
            for _ in range(n)]


def make_batch(seqs: list[torch.Tensor], bug: str = "none") -> dict:
    width = max(len(s) for s in seqs)
    src, tgt_in = torch.zeros(len(seqs), width), torch.zeros(len(seqs), width)
    tgt = torch.full((len(seqs), width), IGNORE)
    for i, s in enumerate(seqs):
        order = s.argsort()
        if bug == "ranks_for_order":
            order = s.argsort().argsort()  # BUG ranks_for_order: each number's rank instead of the sorted order
        src[i, :len(s)], tgt[i, :len(s)] = s, order
        tgt_in[i, 1:len(s)] = s.sort().values[:-1]
    return {"src": src, "src_len": torch.tensor([len(s) for s in seqs]), "tgt_in": tgt_in, "tgt": tgt}


class PointerNet(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.enc_in, self.dec_in = nn.Linear(1, H), nn.Linear(1, H)
        self.encoder = nn.LSTM(H, H, batch_first=bug != "encoder_not_batch_first")  # noqa: E501  BUG encoder_not_batch_first: (B, T, H) read as (T, B, H)
        self.decoder = nn.LSTM(H, H, batch_first=True)
        self.start = nn.Parameter(torch.randn(H) * 0.1)
        self.w_enc, self.w_dec = nn.Linear(H, H, bias=False), nn.Linear(H, H)
        self.v = nn.Linear(H, 1, bias=False)

    def forward(self, src, src_len, tgt_in):  # -> (B, T_dec, T_enc) log-probabilities over source positions
        b, t = src.shape
        enc, _ = self.encoder(self.enc_in(src[..., None]))                       # (B, T, H)
        last = enc[torch.arange(b), src_len - 1]                                 # (B, H)
        dec_x = self.dec_in(tgt_in[..., None])
        dec_x = torch.cat([self.start.expand(b, 1, H), dec_x[:, 1:]], 1)
        dec, _ = self.decoder(dec_x, (last[None].contiguous(), torch.zeros_like(last)[None]))
        scores = self.v(torch.tanh(self.w_enc(enc)[:, None] + self.w_dec(dec)[:, :, None])).squeeze(-1)
        pad = (torch.arange(t, device=src.device)[None] >= src_len[:, None])[:, None, :]  # (B, 1, T_enc)
        if self.bug == "mask_after_log_softmax":
            return scores.log_softmax(-1).masked_fill(pad, -1e9)  # noqa: E501  BUG mask_after_log_softmax: padding masked after the normalisation
        return scores.masked_fill(pad, -1e9).log_softmax(-1)


class PointerTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "pointer")
        g = torch.Generator().manual_seed(DATA_SEED)
        self.train, self.val = examples(N_TRAIN, g), examples(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        seqs = self.train[:n]
        model = PointerNet(self.bug)
        train_eval, val_eval = make_batch(seqs[:400], self.bug), make_batch(self.val, self.bug)

        def run(model, b):
            return model(b["src"], b["src_len"], b["tgt_in"])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    out.update(sequence_metrics(split, run(model, b), b["tgt"], IGNORE))
            return out

        def loss(model, b):
            logp = run(model, b)
            if self.bug == "ce_classes_on_dim1":
                return F.cross_entropy(logp, b["tgt"], ignore_index=IGNORE)  # noqa: E501  BUG ce_classes_on_dim1: (B, T_dec, T_enc) given as (B, C, d): the classes read along the decoder steps
            return F.nll_loss(logp.flatten(0, 1), b["tgt"].flatten(), ignore_index=IGNORE)

        return Problem(model=model, train_size=n,
                       get_batch=lambda idx: make_batch([seqs[i] for i in idx.tolist()], self.bug),
                       loss=loss, evaluate=evaluate, chance_loss=float(torch.tensor(7.0).log()),
                       forward=run, targets=lambda b: b["tgt"])
