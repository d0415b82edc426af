"""Held-out-37 family 3: a GRU encoder-decoder with dot attention turning a camelCase identifier into snake_case
(`fedBagHa` -> `fed_bag_ha`), over dict batches sorted by length for packing.

An identifier: 2..4 words of 2..4 letters of `abcdefgh`, the first lower case, each later one capitalised (the
source); the target: the words in lower case joined by `_`, then EOS. Source ids PAD 0, a..h 1..8, A..H 9..16; target
ids PAD 0, BOS 1, EOS 2, `_` 3, a..h 4..11. Torch seed 0 draws 3000 training and 500 validation identifiers. Dict
batches {src (B, S), src_len (B,), tgt_in (B, T), tgt (B, T)}, right-padded and, for `pack_padded_sequence` with
enforce_sorted=True, every tensor reordered together by decreasing source length; teacher forcing (tgt_in is BOS then
the target but its last token). Model: embeddings of 32; a GRU encoder (128) over the packed source; the decoder GRU
(128) starts from tanh(Linear(128, 128)) of the encoder's final state; dot attention of the decoder states over the
encoder outputs / sqrt(128), PAD keys -inf, softmax over the source positions; Linear(256, 12) on [state, context].
Cross-entropy with PAD ignored; Adam at 0.003. Metrics: token loss and accuracy over non-PAD targets (train: the
stage's first 400 identifiers) and val/exact. Each bug is one line, marked `# BUG <name>`.
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

BUGS = ("none", "sort_src_only", "loss_on_tgt_in", "attn_mask_inverted", "bridge_std3", "encoder_no_grad")
PAD, BOS, EOS, SEP, LOW = 0, 1, 2, 3, 4
LETTERS = "abcdefgh"
SRC_V, TGT_V = 1 + 2 * len(LETTERS), LOW + len(LETTERS)
E, H = 32, 128
N_TRAIN, N_VAL = 3000, 500


def draw(n: int, g: torch.Generator) -> list[tuple[list[int], list[int]]]:
    pairs = []
    for _ in range(n):
        words = [torch.randint(0, len(LETTERS), (int(torch.randint(2, 5, (1,), generator=g)),), generator=g).tolist()
                 for _ in range(int(torch.randint(2, 5, (1,), generator=g)))]
        src = [1 + c + (len(LETTERS) if w > 0 and j == 0 else 0) for w, word in enumerate(words) for j, c in enumerate(word)]
        tgt = [LOW + c for c in words[0]]
        for word in words[1:]:
            tgt += [SEP] + [LOW + c for c in word]
        pairs.append((src, tgt + [EOS]))
    return pairs


def make_batch(pairs: list, bug: str = "none") -> dict:
    s_w, t_w = max(len(s) for s, _ in pairs), max(len(t) for _, t in pairs)
    src, tgt_in, tgt = (torch.full((len(pairs), w), PAD) for w in (s_w, t_w, t_w))
    for i, (s, t) in enumerate(pairs):
        src[i, :len(s)] = torch.tensor(s)
        tgt[i, :len(t)] = torch.tensor(t)
        tgt_in[i, :len(t)] = torch.tensor([BOS] + t[:-1])
    src_len = torch.tensor([len(s) for s, _ in pairs])
    order = src_len.argsort(descending=True, stable=True)
    if bug == "sort_src_only":
        return {"src": src[order], "src_len": src_len[order], "tgt_in": tgt_in, "tgt": tgt}  # BUG sort_src_only
    return {"src": src[order], "src_len": src_len[order], "tgt_in": tgt_in[order], "tgt": tgt[order]}


def describe(b: dict) -> list[str]:
    def text(ids, table):
        return "".join(table[i] for i in ids if i != PAD)
    src_t = {i + 1: c for i, c in enumerate(LETTERS)} | {i + 9: c.upper() for i, c in enumerate(LETTERS)}
    tgt_t = {BOS: "^", EOS: "$", SEP: "_"} | {LOW + i: c for i, c in enumerate(LETTERS)}
    return [f"{text(s.tolist(), src_t)} -> {text(t.tolist(), tgt_t)}" for s, t in zip(b["src"], b["tgt"])]


class SnakeCaser(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.src_emb = nn.Embedding(SRC_V, E, padding_idx=PAD)
        self.tgt_emb = nn.Embedding(TGT_V, E, padding_idx=PAD)
        self.encoder = nn.GRU(E, H, batch_first=True)
        self.bridge = nn.Linear(H, H)
        self.decoder = nn.GRU(E, H, batch_first=True)
        self.out = nn.Linear(2 * H, TGT_V)
        if bug == "bridge_std3":
            nn.init.normal_(self.bridge.weight, std=3.0)  # BUG bridge_std3: std 3 where PyTorch's default is ~0.05

    def encode(self, src, src_len):
        packed, h_n = self.encoder(pack_padded_sequence(self.src_emb(src), src_len.cpu(), batch_first=True))
        enc, _ = pad_packed_sequence(packed, batch_first=True, total_length=src.shape[1])
        return enc, h_n

    def forward(self, src, src_len, tgt_in):  # -> (B, T, TGT_V) logits
        if self.bug == "encoder_no_grad":
            with torch.no_grad(): enc, h_n = self.encode(src, src_len)  # BUG encoder_no_grad  # noqa: E701
        else:
            enc, h_n = self.encode(src, src_len)
        dec, _ = self.decoder(self.tgt_emb(tgt_in), torch.tanh(self.bridge(h_n)))
        scores = dec @ enc.transpose(1, 2) / math.sqrt(H)  # (B, T, S)
        if self.bug == "attn_mask_inverted":
            scores = scores.masked_fill((src != PAD)[:, None, :], float("-inf"))  # BUG attn_mask_inverted
        else:
            scores = scores.masked_fill((src == PAD)[:, None, :], float("-inf"))
        ctx = scores.softmax(-1) @ enc
        return self.out(torch.cat([dec, ctx], -1))


class SnakeCaseTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "snakecase")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        pairs = self.train[:n]
        model = SnakeCaser(self.bug)
        train_eval, val_eval = make_batch(pairs[:400]), make_batch(self.val)

        def get_batch(idx):
            return make_batch([pairs[i] for i in idx.tolist()], self.bug)

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
            logits = run(model, b).flatten(0, 1)
            if self.bug == "loss_on_tgt_in":
                return F.cross_entropy(logits, b["tgt_in"].flatten(), ignore_index=PAD)  # BUG loss_on_tgt_in
            return F.cross_entropy(logits, b["tgt"].flatten(), ignore_index=PAD)

        return Problem(model=model, train_size=n, get_batch=get_batch, loss=loss, evaluate=evaluate,
                       chance_loss=math.log(TGT_V), forward=run, targets=lambda b: b["tgt"], show_batch=describe)
