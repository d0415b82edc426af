"""Held-out-42 family 3: a GRU encoder-decoder with masked dot-product attention that writes the brackets closing an
opened sequence (`([<{` -> `}>])`), over right-padded tuple batches.

A source: 2..9 opening brackets of four kinds `( [ { <` (uniform); the target: their closing brackets in reverse order,
then EOS. Python's random.Random(0) draws 3000 training and 500 validation strings. One character vocabulary for both
sides: PAD 0, BOS 1, EOS 2, then each character in the order it first appears in the training text (sources and targets
in turn). Tuple batches (src (B, S), tgt_in (B, T), tgt (B, T)), right-padded, in the order asked for; teacher forcing
(tgt_in is BOS then the target but its last token). Model: source and target embeddings of 32 (padding_idx 0); a
one-layer GRU encoder (128) over the packed source (lengths from src != PAD, enforce_sorted=False); the decoder GRU
(128) starts from the encoder's final state; attention scores s_t · W e_j, PAD keys -inf, softmax over the source;
Linear(256, 11) on [state, context]. Cross-entropy with PAD ignored; Adam at 0.001. Metrics: token loss and accuracy
over non-PAD targets (train: the stage's first 400 strings) and val/exact. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
import random
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "vocab_per_split", "loss_on_tgt_in", "update_gate_bias_8", "attn_softmax_dim1")
PAD, BOS, EOS = 0, 1, 2
OPEN, CLOSE = "([{<", ")]}>"
V, E, H = 3 + 8, 32, 128
N_TRAIN, N_VAL = 3000, 500


def draw(n: int, rng: random.Random) -> list[tuple[str, str]]:
    pairs = []
    for _ in range(n):
        s = "".join(rng.choice(OPEN) for _ in range(rng.randint(2, 9)))
        pairs.append((s, "".join(CLOSE[OPEN.index(c)] for c in reversed(s))))
    return pairs


def vocabulary(pairs: list[tuple[str, str]]) -> dict[str, int]:
    """Characters in the order they first appear (sources and targets in turn), after the three specials."""
    return {c: i + 3 for i, c in enumerate(dict.fromkeys("".join(s + t for s, t in pairs)))}


def encode(pairs, vocab) -> list[tuple[list[int], list[int]]]:
    return [([vocab[c] for c in s], [vocab[c] for c in t] + [EOS]) for s, t in pairs]


def make_batch(pairs: list) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    s_w, t_w = max(len(s) for s, _ in pairs), max(len(t) for _, t in pairs)
    src, tgt_in, tgt = (torch.full((len(pairs), w), PAD) for w in (s_w, t_w, t_w))
    for i, (s, t) in enumerate(pairs):
        src[i, :len(s)], tgt[i, :len(t)] = torch.tensor(s), torch.tensor(t)
        tgt_in[i, :len(t)] = torch.tensor([BOS] + t[:-1])
    return src, tgt_in, tgt


class Closer(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.src_emb, self.tgt_emb = nn.Embedding(V, E, padding_idx=PAD), nn.Embedding(V, E, padding_idx=PAD)
        self.encoder, self.decoder = nn.GRU(E, H, batch_first=True), nn.GRU(E, H, batch_first=True)
        if bug == "update_gate_bias_8":
            self.encoder.bias_hh_l0.data[H:2 * H].fill_(8.0)  # BUG update_gate_bias_8: an LSTM forget-bias habit on the GRU's z gate
        self.attn = nn.Linear(H, H, bias=False)
        self.out = nn.Linear(2 * H, V)

    def forward(self, src, tgt_in):  # -> (B, T, V) logits
        lengths = (src != PAD).sum(1)
        packed = pack_padded_sequence(self.src_emb(src), lengths.cpu(), batch_first=True, enforce_sorted=False)
        enc, h_n = self.encoder(packed)
        enc, _ = pad_packed_sequence(enc, batch_first=True, total_length=src.shape[1])  # (B, S, H)
        dec, _ = self.decoder(self.tgt_emb(tgt_in), h_n)  # (B, T, H)
        scores = (dec @ self.attn(enc).transpose(1, 2)).masked_fill((src == PAD)[:, None, :], float("-inf"))
        if self.bug == "attn_softmax_dim1":
            weights = scores.softmax(1)  # BUG attn_softmax_dim1: normalised over the decoder steps, not the source
        else:
            weights = scores.softmax(-1)
        return self.out(torch.cat([dec, weights @ enc], -1))


class ClosersTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "closers")
        rng = random.Random(0)
        train, val = draw(N_TRAIN, rng), draw(N_VAL, rng)
        vocab = vocabulary(train)
        self.train = encode(train, vocab)
        if self.bug == "vocab_per_split":
            self.val = encode(val, vocabulary(val))  # BUG vocab_per_split: the validation split's own vocabulary
        else:
            self.val = encode(val, vocab)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        pairs = self.train[:n]
        model = Closer(self.bug)
        train_eval, val_eval = make_batch(pairs[:400]), make_batch(self.val)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (src, tgt_in, tgt) in (("train", train_eval), ("val", val_eval)):
                    src, tgt_in, tgt = (on_device_of(model, t) for t in (src, tgt_in, tgt))
                    out.update(sequence_metrics(split, model(src, tgt_in), tgt, PAD))
            return out

        def loss(model, b):
            src, tgt_in, tgt = b
            logits = model(src, tgt_in).flatten(0, 1)
            if self.bug == "loss_on_tgt_in":
                return F.cross_entropy(logits, tgt_in.flatten(), ignore_index=PAD)  # BUG loss_on_tgt_in: the wrong tensor
            return F.cross_entropy(logits, tgt.flatten(), ignore_index=PAD)

        return Problem(model=model, train_size=n, get_batch=lambda idx: make_batch([pairs[i] for i in idx.tolist()]),
                       loss=loss, evaluate=evaluate, chance_loss=math.log(V),
                       forward=lambda model, b: model(b[0], b[1]), targets=lambda b: b[2])
