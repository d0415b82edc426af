"""Held-out-39 family 3: a GRU encoder-decoder with dot-product (Luong, "general") attention spelling a hexadecimal
number in binary (`3f` -> `00111111`), over right-padded variable-length dict batches.

A source: 1..5 hexadecimal digits (`0-9a-f`, each uniform; leading zeros allowed); the target: each digit's four
bits, most significant first, then EOS (5..21 tokens). Source ids: PAD 0, the digits 1..16; target ids: PAD 0, BOS 1,
EOS 2, `0` 3, `1` 4. Torch seed 0 draws 3000 training and 500 validation numbers. Dict batches {src (B, S), src_len
(B,), tgt_in (B, T), tgt (B, T)}, right-padded, in the order asked for; teacher forcing (tgt_in is BOS then the target
but its last token). Model: source embeddings of 32 (padding_idx 0) plus a learnt embedding of the source position;
a one-layer GRU encoder (128) over the packed source (enforce_sorted=False); the decoder GRU (128) starts from the
encoder's final state; target embeddings of 32 plus a learnt embedding of the target position; attention scores
s_t · W e_j over the source positions, PAD keys
-inf, softmax over the source; the output Linear(256, 5) on [state, context]. Cross-entropy with PAD ignored; Adam at
0.003. Metrics: token loss and accuracy over non-PAD targets (train: the stage's first 400 numbers) and val/exact.
Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "src_len_padded_width", "attn_mask_inverted", "gru_bias_10", "ignore_eos")
PAD, BOS, EOS = 0, 1, 2
SV, TV, E, H, MAX_DIGITS = 17, 5, 32, 128, 5
N_TRAIN, N_VAL = 3000, 500


def draw(n: int, g: torch.Generator) -> list[tuple[list[int], list[int]]]:
    pairs = []
    for _ in range(n):
        digits = torch.randint(0, 16, (int(torch.randint(1, MAX_DIGITS + 1, (1,), generator=g)),), generator=g)
        bits = [3 + ((int(d) >> k) & 1) for d in digits for k in (3, 2, 1, 0)]
        pairs.append(((digits + 1).tolist(), bits + [EOS]))
    return pairs


def make_batch(pairs: list, bug: str = "none") -> dict:
    s_w, t_w = max(len(s) for s, _ in pairs), max(len(t) for _, t in pairs)
    src, tgt_in, tgt = (torch.full((len(pairs), w), PAD) for w in (s_w, t_w, t_w))
    for i, (s, t) in enumerate(pairs):
        src[i, :len(s)], tgt[i, :len(t)] = torch.tensor(s), torch.tensor(t)
        tgt_in[i, :len(t)] = torch.tensor([BOS] + t[:-1])
    src_len = torch.tensor([len(s) for s, _ in pairs])
    if bug == "src_len_padded_width":
        src_len = torch.full((len(pairs),), s_w)  # BUG src_len_padded_width: every length is the batch's width
    return {"src": src, "src_len": src_len, "tgt_in": tgt_in, "tgt": tgt}


class HexToBinary(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.src_emb, self.pos = nn.Embedding(SV, E, padding_idx=PAD), nn.Embedding(MAX_DIGITS, E)
        self.tgt_emb, self.tgt_pos = nn.Embedding(TV, E, padding_idx=PAD), nn.Embedding(4 * MAX_DIGITS + 1, E)
        self.encoder, self.decoder = nn.GRU(E, H, batch_first=True), nn.GRU(E, H, batch_first=True)
        if bug == "gru_bias_10":
            nn.init.constant_(self.encoder.bias_hh_l0, 10.0)  # BUG gru_bias_10: meant for the update gate's third only
        self.attn = nn.Linear(H, H, bias=False)
        self.out = nn.Linear(2 * H, TV)

    def forward(self, src, src_len, tgt_in):  # -> (B, T, TV) logits
        b, s = src.shape
        x = self.src_emb(src) + self.pos(torch.arange(s, device=src.device))
        packed = pack_padded_sequence(x, src_len.cpu(), batch_first=True, enforce_sorted=False)
        enc, h_n = self.encoder(packed)
        enc, _ = pad_packed_sequence(enc, batch_first=True, total_length=s)  # (B, S, H)
        y = self.tgt_emb(tgt_in) + self.tgt_pos(torch.arange(tgt_in.shape[1], device=src.device))
        dec, _ = self.decoder(y, h_n)  # (B, T, H)
        scores = dec @ self.attn(enc).transpose(1, 2)  # (B, T, S)
        if self.bug == "attn_mask_inverted":
            scores = scores.masked_fill((src != PAD)[:, None, :], float("-inf"))  # BUG attn_mask_inverted
        else:
            scores = scores.masked_fill((src == PAD)[:, None, :], float("-inf"))
        return self.out(torch.cat([dec, scores.softmax(-1) @ enc], -1))


class HexBinTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "hexbin")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        pairs = self.train[:n]
        model = HexToBinary(self.bug)
        train_eval, val_eval = make_batch(pairs[:400], self.bug), make_batch(self.val, self.bug)

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
            ignore = EOS if self.bug == "ignore_eos" else PAD  # BUG ignore_eos: the wrong special token ignored
            return F.cross_entropy(run(model, b).flatten(0, 1), b["tgt"].flatten(), ignore_index=ignore)

        def get_batch(idx):
            return make_batch([pairs[i] for i in idx.tolist()], self.bug)

        return Problem(model=model, train_size=n, get_batch=get_batch, loss=loss, evaluate=evaluate,
                       chance_loss=math.log(TV), forward=run, targets=lambda b: b["tgt"])
