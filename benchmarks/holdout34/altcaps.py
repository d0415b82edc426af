"""Held-out-34 family 3: an LSTM encoder-decoder with dot attention writing a phrase in alternating case
(`bad cafe` -> `BaD cAfE`): every other letter capitalised, counted over the whole phrase (spaces do not count),
the first letter upper.

A phrase: 1..3 words of 1..4 letters of a..h, single spaces (1..14 tokens). Source ids: PAD 0, space 1, a..h 2..9.
Target: the phrase in alternating case, then EOS; ids PAD 0, BOS 1, EOS 2, space 3, a..h 4..11, A..H 12..19. Torch
seed 0 draws 3000 training and 500 validation pairs. Dict batches {src (B, S), src_len (B,), tgt_in (B, T), tgt
(B, T)}, right-padded; teacher forcing (the decoder reads BOS then the target but its last token). Model:
embeddings of 32; an LSTM encoder (96) over the packed source; the decoder LSTM (96) starts from the encoder's final
(h, c); dot attention of the decoder states over the encoder outputs, PAD keys masked with -inf, softmax over the
source positions; Linear(192, 20) on [decoder state, context]. Cross-entropy, PAD ignored; Adam at 0.003. Metrics:
token loss and accuracy over non-PAD targets (train: the stage's first 400 pairs) and val/exact. Each bug is one
line, marked `# BUG <name>`.
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

BUGS = ("none", "state_at_padded_end", "loss_targets_ahead", "src_emb_x100", "attn_softmax_over_time",
        "src_noise_in_eval")
PAD, SPACE, LETTER = 0, 1, 2
BOS, EOS, T_SPACE, T_LOWER, T_UPPER = 1, 2, 3, 4, 12
SRC_V, TGT_V, LETTERS = 10, 20, 8
E, H = 32, 96
N_TRAIN, N_VAL = 3000, 500


def draw(n: int, g: torch.Generator) -> list[tuple[list[int], list[int]]]:
    pairs = []
    for _ in range(n):
        src, tgt, k = [], [], 0
        for w in range(int(torch.randint(1, 4, (1,), generator=g))):
            if w:
                src.append(SPACE), tgt.append(T_SPACE)
            for letter in torch.randint(0, LETTERS, (int(torch.randint(1, 5, (1,), generator=g)),), generator=g).tolist():
                src.append(LETTER + letter)
                tgt.append((T_UPPER if k % 2 == 0 else T_LOWER) + letter)
                k += 1
        pairs.append((src, tgt + [EOS]))
    return pairs


def make_batch(srcs: list, tgts: list) -> dict:
    s_w, t_w = max(len(s) for s in srcs), max(len(t) for t in tgts)
    src, tgt_in, tgt = (torch.full((len(srcs), w), PAD) for w in (s_w, t_w, t_w))
    for i, (s, t) in enumerate(zip(srcs, tgts)):
        src[i, :len(s)] = torch.tensor(s)
        tgt[i, :len(t)] = torch.tensor(t)
        tgt_in[i, :len(t)] = torch.tensor([BOS] + t[:-1])
    return {"src": src, "src_len": torch.tensor([len(s) for s in srcs]), "tgt_in": tgt_in, "tgt": tgt}


class AltCaps(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.src_emb = nn.Embedding(SRC_V, E, padding_idx=PAD)
        self.tgt_emb = nn.Embedding(TGT_V, E, padding_idx=PAD)
        self.encoder = nn.LSTM(E, H, batch_first=True)
        self.decoder = nn.LSTM(E, H, batch_first=True)
        self.out = nn.Linear(2 * H, TGT_V)
        if bug == "src_emb_x100":
            with torch.no_grad():
                self.src_emb.weight.mul_(100)  # BUG src_emb_x100: source embeddings std 100 instead of 1

    def forward(self, src, src_len, tgt_in):  # -> (B, T, TGT_V) logits
        emb = self.src_emb(src)
        if self.bug == "src_noise_in_eval":
            emb = emb + 0.3 * torch.randn_like(emb)  # BUG src_noise_in_eval: noise without checking self.training
        if self.bug == "state_at_padded_end":
            enc, state = self.encoder(emb)  # BUG state_at_padded_end: unpacked, the state read after the padding
        else:
            packed, state = self.encoder(pack_padded_sequence(emb, src_len.cpu(), batch_first=True,
                                                              enforce_sorted=False))
            enc, _ = pad_packed_sequence(packed, batch_first=True, total_length=src.shape[1])
        dec, _ = self.decoder(self.tgt_emb(tgt_in), state)
        scores = (dec @ enc.transpose(1, 2)).masked_fill((src == PAD)[:, None, :], float("-inf"))  # (B, T, S)
        if self.bug == "attn_softmax_over_time":
            weights = scores.softmax(1)  # BUG attn_softmax_over_time: normalised over the decoder's positions
        else:
            weights = scores.softmax(-1)
        return self.out(torch.cat([dec, weights @ enc], -1))


class AltCapsTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "altcaps")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        pairs = self.train[:n]
        model = AltCaps(self.bug)
        train_eval, val_eval = make_batch(*zip(*pairs[:400])), make_batch(*zip(*self.val))

        def get_batch(idx):
            chosen = [pairs[i] for i in idx.tolist()]
            return make_batch([s for s, _ in chosen], [t for _, t in chosen])

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
            logits = run(model, b)
            if self.bug == "loss_targets_ahead":
                # BUG loss_targets_ahead: the output at t scored on the target of t + 1
                return F.cross_entropy(logits[:, :-1].flatten(0, 1), b["tgt"][:, 1:].flatten(), ignore_index=PAD)
            return F.cross_entropy(logits.flatten(0, 1), b["tgt"].flatten(), ignore_index=PAD)

        return Problem(model=model, train_size=n, get_batch=get_batch, loss=loss, evaluate=evaluate,
                       chance_loss=math.log(TGT_V), forward=run, targets=lambda b: b["tgt"])
