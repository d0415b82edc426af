"""Held-out-54 family 3: a GRU encoder-decoder with general (bilinear) attention reading the digits of a barcode from
its bar and space widths, under NAdam, over plain tuple batches, scored by greedy decoding.

A barcode: 2..6 digits (uniform), each written as the four widths (1..4 modules) of its EAN left-hand (L) code: 0 3211,
1 2221, 2 2122, 3 1411, 4 1132, 5 1231, 6 1114, 7 1312, 8 1213, 9 3112. Source ids: PAD 0, widths 1..4 as 1..4;
target ids: PAD 0, BOS 1, EOS 2, digits 0..9 as 3..12. Torch seed 0 draws 3000 training and 600 validation barcodes.
Tuple batches (src (B, S), tgt_in (B, T), tgt_out (B, T)), right-padded; teacher forcing: with seq = BOS + digits +
EOS, tgt_in = seq[:-1], tgt_out = seq[1:]. Model: embeddings of 32 (padding_idx 0); a GRU encoder (96) over the packed
source; a GRU decoder (96) from the encoder's final state; general attention (score = q W m) of each decoder output
over the encoder outputs, padded source positions at -inf; Linear(192, 13) on [decoder output, context]. Loss:
cross-entropy over non-PAD targets; NAdam at 0.003. Metrics: teacher-forced token loss, and from greedy decoding (up
to 7 steps) the token accuracy over the target's positions (EOS included) and `exact`, on the stage's first 500
barcodes and on validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "left_padded_packed", "logits_reshaped_not_transposed", "gru_constant_init",
        "embedding_scaled_sqrt_dim")
PAD, BOS, EOS, V_SRC, V_TGT, E, H = 0, 1, 2, 5, 13, 32, 96
MIN_DIGITS, MAX_DIGITS, N_TRAIN, N_VAL = 2, 6, 3000, 600
L_CODE = ("3211", "2221", "2122", "1411", "1132", "1231", "1114", "1312", "1213", "3112")


def draw(n: int, g: torch.Generator) -> list[list[int]]:
    return [torch.randint(0, 10, (int(torch.randint(MIN_DIGITS, MAX_DIGITS + 1, (1,), generator=g)),),
                          generator=g).tolist() for _ in range(n)]


def widths(digits: list[int]) -> list[int]:
    return [int(w) for d in digits for w in L_CODE[d]]


def make_batch(codes: list, bug: str = "none"):
    b = len(codes)
    srcs = [widths(c) for c in codes]
    width, tlen = max(len(s) for s in srcs), max(len(c) for c in codes) + 1
    src, tgt_in, tgt_out = torch.full((b, width), PAD), torch.full((b, tlen), PAD), torch.full((b, tlen), PAD)
    for i, (c, s) in enumerate(zip(codes, srcs)):
        if bug == "left_padded_packed":
            src[i, width - len(s):] = torch.tensor(s)  # BUG left_padded_packed: sources padded on the left while the encoder packs them as right-padded
        else:
            src[i, :len(s)] = torch.tensor(s)
        seq = torch.tensor([BOS] + [d + 3 for d in c] + [EOS])
        tgt_in[i, :len(c) + 1], tgt_out[i, :len(c) + 1] = seq[:-1], seq[1:]
    return src, tgt_in, tgt_out


class BarcodeReader(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.src_emb, self.tgt_emb = nn.Embedding(V_SRC, E, padding_idx=PAD), nn.Embedding(V_TGT, E, padding_idx=PAD)
        self.enc, self.dec = nn.GRU(E, H, batch_first=True), nn.GRU(E, H, batch_first=True)
        self.score = nn.Linear(H, H, bias=False)
        self.out = nn.Linear(2 * H, V_TGT)
        if bug == "gru_constant_init":
            [nn.init.constant_(p, 0.05) for name, p in self.named_parameters() if name.startswith(("enc.weight", "dec.weight"))]  # BUG gru_constant_init: "a small constant" for the GRUs' weight matrices

    def embed_source(self, src):
        if self.bug == "embedding_scaled_sqrt_dim":
            return self.src_emb(src) * math.sqrt(E)  # BUG embedding_scaled_sqrt_dim: the Transformer's x sqrt(d) embedding scale carried over to the GRU encoder
        return self.src_emb(src)

    def encode(self, src):
        lengths = (src != PAD).sum(1).clamp(min=1).cpu()
        packed = pack_padded_sequence(self.embed_source(src), lengths, batch_first=True, enforce_sorted=False)
        out, state = self.enc(packed)
        memory, _ = pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])
        return memory, state

    def attend(self, q, memory, pad):  # q (B, T, H), memory (B, S, H), pad (B, S) True at PAD
        scores = self.score(q) @ memory.transpose(1, 2)
        scores = scores.masked_fill(pad[:, None, :], float("-inf"))
        context = scores.softmax(-1) @ memory
        return self.out(torch.cat([q, context], -1))

    def forward(self, src, tgt_in):  # -> (B, T, V_TGT) logits
        memory, state = self.encode(src)
        q, _ = self.dec(self.tgt_emb(tgt_in), state)
        return self.attend(q, memory, src == PAD)

    def greedy(self, src, steps: int):
        memory, state = self.encode(src)
        token, out = torch.full((src.shape[0], 1), BOS, device=src.device), []
        for _ in range(steps):
            q, state = self.dec(self.tgt_emb(token), state)
            token = self.attend(q, memory, src == PAD).argmax(-1)
            out.append(token)
        return torch.cat(out, 1)


def token_loss(logits, tgt_out, bug: str = "none"):
    b, t, v = logits.shape
    if bug == "logits_reshaped_not_transposed":
        return F.cross_entropy(logits.reshape(b, v, t), tgt_out, ignore_index=PAD)  # BUG logits_reshaped_not_transposed: reshape where transpose(1, 2) was meant to put the classes second
    return F.cross_entropy(logits.transpose(1, 2), tgt_out, ignore_index=PAD)


class BarcodesTask:
    metrics = ("train/loss", "train/acc", "train/exact", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "barcodes")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        codes = self.train[:n]
        model = BarcodeReader(self.bug)
        bug = self.bug
        train_eval, val_eval = make_batch(codes[:500]), make_batch(self.val)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, batch in (("train", train_eval), ("val", val_eval)):
                    src, tgt_in, tgt = (on_device_of(model, t) for t in batch)
                    pred = model.greedy(src, MAX_DIGITS + 1)[:, :tgt.shape[1]]
                    real = tgt != PAD
                    out[f"{split}/loss"] = token_loss(model(src, tgt_in), tgt).item()
                    out[f"{split}/acc"] = ((pred == tgt) & real).sum().item() / real.sum().item()
                    out[f"{split}/exact"] = ((pred == tgt) | ~real).all(1).float().mean().item()
            return out

        return Problem(model=model, train_size=n,
                       get_batch=lambda idx: make_batch([codes[i] for i in idx.tolist()], bug),
                       loss=lambda model, b: token_loss(model(b[0], b[1]), b[2], bug), evaluate=evaluate,
                       chance_loss=math.log(V_TGT), forward=lambda model, b: model(b[0], b[1]),
                       targets=lambda b: b[2])
