"""Held-out-40 family 3: a GRU encoder-decoder with dot-product ("general") attention that stutters a word: every
letter written twice (`cab` -> `ccaabb`), over right-padded variable-length dict batches.

A source: 2..7 letters of ten (uniform); the target: each letter twice, then EOS (5..15 tokens). Source ids: PAD 0,
the letters 1..10; target ids: PAD 0, BOS 1, EOS 2, the letters 3..12. Torch seed 0 draws 3000 training and 500
validation words. Dict batches {src (B, S), src_len (B,), tgt_in (B, T), tgt (B, T)}, right-padded, sorted by source
length (longest first, the whole examples reordered together) for a packed encoder with enforce_sorted=True; teacher
forcing (tgt_in is BOS then the target but its last token). Model: source embeddings of 32 (padding_idx 0) plus a
learnt source position; a one-layer GRU encoder (128) over the packed source; the decoder GRU (128) starts from the
encoder's final state; target embeddings of 32 plus a learnt target position; attention scores s_t · W e_j, PAD keys
-inf, softmax over the source; Linear(256, 13) on [state, context]. Cross-entropy with PAD ignored; Adam at 0.003.
Metrics: token loss and accuracy over non-PAD targets (train: the stage's first 400 words) and val/exact. Each bug is
one line, marked `# BUG <name>`.
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

BUGS = ("none", "context_detached", "tgt_in_unshifted", "tgt_emb_std_30", "sort_src_only")
PAD, BOS, EOS = 0, 1, 2
LETTERS, MAX_LEN, E, H = 10, 7, 32, 128
SV, TV = LETTERS + 1, LETTERS + 3
N_TRAIN, N_VAL = 3000, 500


def draw(n: int, g: torch.Generator) -> list[tuple[list[int], list[int]]]:
    pairs = []
    for _ in range(n):
        w = torch.randint(0, LETTERS, (int(torch.randint(2, MAX_LEN + 1, (1,), generator=g)),), generator=g).tolist()
        pairs.append(([c + 1 for c in w], [c + 3 for c in w for _ in (0, 1)] + [EOS]))
    return pairs


def make_batch(pairs: list, bug: str = "none") -> dict:
    s_w, t_w = max(len(s) for s, _ in pairs), max(len(t) for _, t in pairs)
    src, tgt_in, tgt = (torch.full((len(pairs), w), PAD) for w in (s_w, t_w, t_w))
    for i, (s, t) in enumerate(pairs):
        src[i, :len(s)], tgt[i, :len(t)] = torch.tensor(s), torch.tensor(t)
        if bug == "tgt_in_unshifted":
            tgt_in[i, :len(t)] = torch.tensor(t)  # BUG tgt_in_unshifted: the BOS shift forgotten
        else:
            tgt_in[i, :len(t)] = torch.tensor([BOS] + t[:-1])
    src_len = torch.tensor([len(s) for s, _ in pairs])
    order = src_len.argsort(descending=True, stable=True)
    if bug == "sort_src_only":
        src, src_len = src[order], src_len[order]  # BUG sort_src_only: the targets keep the original order
    else:
        src, src_len, tgt_in, tgt = src[order], src_len[order], tgt_in[order], tgt[order]
    return {"src": src, "src_len": src_len, "tgt_in": tgt_in, "tgt": tgt}


class Stutter(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.src_emb, self.pos = nn.Embedding(SV, E, padding_idx=PAD), nn.Embedding(MAX_LEN, E)
        self.tgt_emb, self.tgt_pos = nn.Embedding(TV, E, padding_idx=PAD), nn.Embedding(2 * MAX_LEN + 1, E)
        if bug == "tgt_emb_std_30":
            nn.init.normal_(self.tgt_emb.weight, std=30.0)  # BUG tgt_emb_std_30: std 30 for 0.3
        self.encoder, self.decoder = nn.GRU(E, H, batch_first=True), nn.GRU(E, H, batch_first=True)
        self.attn = nn.Linear(H, H, bias=False)
        self.out = nn.Linear(2 * H, TV)

    def forward(self, src, src_len, tgt_in):  # -> (B, T, TV) logits
        s = src.shape[1]
        x = self.src_emb(src) + self.pos(torch.arange(s, device=src.device))
        enc, h_n = self.encoder(pack_padded_sequence(x, src_len.cpu(), batch_first=True))
        enc, _ = pad_packed_sequence(enc, batch_first=True, total_length=s)  # (B, S, H)
        y = self.tgt_emb(tgt_in) + self.tgt_pos(torch.arange(tgt_in.shape[1], device=src.device))
        dec, _ = self.decoder(y, h_n)  # (B, T, H)
        scores = (dec @ self.attn(enc).transpose(1, 2)).masked_fill((src == PAD)[:, None, :], float("-inf"))
        context = scores.softmax(-1) @ enc
        if self.bug == "context_detached":
            context = context.detach()  # BUG context_detached: meant to stop gradients into a frozen encoder only
        return self.out(torch.cat([dec, context], -1))


class StutterTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "stutter")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        pairs = self.train[:n]
        model = Stutter(self.bug)
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
            return F.cross_entropy(run(model, b).flatten(0, 1), b["tgt"].flatten(), ignore_index=PAD)

        return Problem(model=model, train_size=n, get_batch=lambda idx: make_batch([pairs[i] for i in idx.tolist()],
                                                                                   self.bug),
                       loss=loss, evaluate=evaluate, chance_loss=math.log(TV), forward=run, targets=lambda b: b["tgt"])
