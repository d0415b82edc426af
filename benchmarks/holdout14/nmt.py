"""Held-out-14 family 2: an encoder-decoder Transformer translating generated word sequences (reversed word by word).

Source sentences are 3..8 words from 20 source words; the target is each word's fixed translation (a seeded
bijection onto 20 target words) in reversed order, between BOS and EOS. Ids: 0 PAD, 1 BOS, 2 EOS, words from 3;
sources and targets padded to the batch's longest. Model: nn.TransformerEncoder / nn.TransformerDecoder (d 64,
4 heads, 2 + 2 pre-LN layers and a final LayerNorm each, feed-forward 128, dropout 0.1, batch first) over
embeddings plus learned positions (both N(0, 1)); a
source key-padding mask (encoder and cross-attention), a causal target mask and a target key-padding mask (all
boolean, True = hidden); a linear output over the target words. Cross-entropy with label smoothing 0.1,
ignore_index on the pads. Dict batches {src, tgt_in, tgt} (tgt_in = BOS + words, tgt = words + EOS).
Goal: validation exact match of greedy decoding (whole sentence right).
Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "mask_convention_flipped", "memory_mask_dropped", "target_not_shifted")
PAD, BOS, EOS, WORDS = 0, 1, 2, 20
VOCAB = WORDS + 3
MIN_LEN, MAX_LEN, D = 3, 8, 64
DATA_SEED, N_TRAIN, N_VAL = 0, 2000, 300


def sentences(n: int, g: torch.Generator, translate: torch.Tensor):
    src, tgt = [], []
    for _ in range(n):
        length = int(torch.randint(MIN_LEN, MAX_LEN + 1, (1,), generator=g))
        words = torch.randint(3, VOCAB, (length,), generator=g)
        src.append(words)
        tgt.append(torch.cat([torch.tensor([BOS]), translate[words].flip(0), torch.tensor([EOS])]))
    return src, tgt


def pad(seqs: list[torch.Tensor]) -> torch.Tensor:
    return nn.utils.rnn.pad_sequence(seqs, batch_first=True, padding_value=PAD)


def causal(t: int, bug: str) -> torch.Tensor:
    if bug == "mask_convention_flipped":
        return torch.tril(torch.ones(t, t, dtype=torch.bool))  # BUG mask_convention_flipped: True = may attend
    return torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)  # True above the diagonal: the future hidden


class Translator(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.src_embed, self.tgt_embed = nn.Embedding(VOCAB, D), nn.Embedding(VOCAB, D)
        self.pos = nn.Parameter(torch.randn(MAX_LEN + 2, D))  # learned positions, on the embeddings' scale
        layer = dict(d_model=D, nhead=4, dim_feedforward=128, dropout=0.1, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(**layer), 2, norm=nn.LayerNorm(D),
                                             enable_nested_tensor=False)
        self.decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(**layer), 2, norm=nn.LayerNorm(D))
        self.out = nn.Linear(D, VOCAB)

    def encode(self, src):
        src_pad = src == PAD
        memory = self.encoder(self.src_embed(src) + self.pos[:src.shape[1]],
                              src_key_padding_mask=src_pad)
        return memory, src_pad

    def decode(self, memory, src_pad, tgt_in):
        t = tgt_in.shape[1]
        if self.bug == "memory_mask_dropped":
            src_pad = None  # BUG memory_mask_dropped: the cross-attention reads the padded source positions
        h = self.decoder(self.tgt_embed(tgt_in) + self.pos[:t], memory,
                         tgt_mask=causal(t, self.bug).to(tgt_in.device), tgt_key_padding_mask=tgt_in == PAD,
                         memory_key_padding_mask=src_pad)
        return self.out(h)

    def forward(self, src, tgt_in):  # (B, S), (B, T) -> (B, T, VOCAB)
        memory, src_pad = self.encode(src)
        return self.decode(memory, src_pad, tgt_in)

    @torch.no_grad()
    def greedy(self, src, steps: int) -> torch.Tensor:
        memory, src_pad = self.encode(src)
        out = torch.full((len(src), 1), BOS, dtype=torch.long, device=src.device)
        for _ in range(steps):
            nxt = self.decode(memory, src_pad, out)[:, -1].argmax(-1, keepdim=True)
            out = torch.cat([out, nxt], 1)
        return out[:, 1:]


def batch(src: list[torch.Tensor], tgt: list[torch.Tensor], bug: str) -> dict:
    t = pad(tgt)
    tgt_in, tgt_out = t[:, :-1], t[:, 1:]
    if bug == "target_not_shifted":
        tgt_out = t[:, :-1]  # BUG target_not_shifted: sliced like the decoder's input
    tgt_in = tgt_in.masked_fill(tgt_in == EOS, PAD)  # the longest target's EOS is no input
    return {"src": pad(src), "tgt_in": tgt_in, "tgt": tgt_out}


def smoothed_ce(logits, tgt):
    return F.cross_entropy(logits.flatten(0, 1), tgt.flatten(), ignore_index=PAD, label_smoothing=0.1)


class NMTTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "nmt")
        g = torch.Generator().manual_seed(DATA_SEED)
        translate = torch.cat([torch.arange(3), 3 + torch.randperm(WORDS, generator=g)])
        self.train, self.val = sentences(N_TRAIN, g, translate), sentences(N_VAL, g, translate)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        src, tgt = self.train[0][:n], self.train[1][:n]
        model = Translator(self.bug)
        train_eval, val_eval = batch(src[:300], tgt[:300], self.bug), batch(*self.val, "none")

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    logits = model(b["src"], b["tgt_in"])
                    real = b["tgt"] != PAD
                    out[f"{split}/loss"] = smoothed_ce(logits, b["tgt"]).item()
                    out[f"{split}/acc"] = ((logits.argmax(-1) == b["tgt"]) & real).sum().item() / real.sum().item()
                guess = model.greedy(val_eval["src"], val_eval["tgt"].shape[1])
                want = val_eval["tgt"]
                right = (guess == want) | (want == PAD)
                out["val/exact"] = right.all(1).float().mean().item()
            return out

        def get_batch(idx):
            return batch([src[i] for i in idx.tolist()], [tgt[i] for i in idx.tolist()], self.bug)

        return Problem(model=model, train_size=n, get_batch=get_batch,
                       loss=lambda model, b: smoothed_ce(model(b["src"], b["tgt_in"]), b["tgt"]),
                       evaluate=evaluate, chance_loss=math.log(VOCAB),
                       forward=lambda model, b: model(b["src"], b["tgt_in"]), targets=lambda b: b["tgt"])
