"""Held-out-56 family 3: a GRU encoder-decoder (bidirectional packed encoder, dot attention over the padded source)
that moves a word's vowels to its end, keeping the order within each group (a stable partition: "bacedi" ->
"bcdhae"), under RMSprop, over plain tuple batches, scored by greedy decoding.

A word: 3..7 letters drawn uniformly from a..h (vowels a and e). Target: its consonants in order, then its vowels in
order, then EOS. Ids: PAD 0, BOS 1, EOS 2, a..h 3..10. Torch seed 0 draws 3000 training and 600 validation words.
Tuple batches (src (B, S), src_len (B,), tgt_in (B, T), tgt_out (B, T)), right-padded; teacher forcing: tgt_in = BOS +
target, tgt_out = target + EOS. Model: a shared Embedding(11, 64) (padding_idx 0); a bidirectional GRU(64, 64) encoder
over the packed source; its two final states concatenated, through Linear(128, 128) and tanh, start a GRU(64, 128)
decoder; dot attention of each decoder state over W x encoder outputs (Linear(128, 128)), padded source positions at
-inf; Linear(256, 11) on [decoder state; context]. Loss: cross-entropy over non-PAD targets; RMSprop at 0.001.
Metrics: the teacher-forced loss, and from greedy decoding (8 steps) the token accuracy over the target's positions
(EOS included) and `exact`, on the stage's first 500 words and on validation. Each bug is one line, marked
`# BUG <name>`.
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

BUGS = ("none", "decoder_input_unshifted", "log_softmax_over_time", "embedding_scaled", "final_states_reshaped")
PAD, BOS, EOS, LETTERS, E, H, N_TRAIN, N_VAL, STEPS = 0, 1, 2, 8, 64, 64, 3000, 600, 8
VOCAB, VOWELS = LETTERS + 3, {3, 7}


def draw(n: int, g: torch.Generator) -> list:
    out = []
    for _ in range(n):
        k = int(torch.randint(3, 8, (1,), generator=g))
        word = (torch.randint(0, LETTERS, (k,), generator=g) + 3).tolist()
        out.append((word, [c for c in word if c not in VOWELS] + [c for c in word if c in VOWELS]))
    return out


def make_batch(items: list, bug: str = "none"):
    s_w, t_w = max(len(s) for s, _ in items), max(len(t) for _, t in items) + 1
    src, tin, tout = (torch.full((len(items), w), PAD) for w in (s_w, t_w, t_w))
    for i, (s, t) in enumerate(items):
        src[i, :len(s)] = torch.tensor(s)
        if bug == "decoder_input_unshifted":
            tin[i, :len(t) + 1] = torch.tensor(t + [EOS])  # BUG decoder_input_unshifted: the decoder input built like the targets ([BOS] + t meant)
        else:
            tin[i, :len(t) + 1] = torch.tensor([BOS] + t)
        tout[i, :len(t) + 1] = torch.tensor(t + [EOS])
    return src, torch.tensor([len(s) for s, _ in items]), tin, tout


class Partitioner(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.emb = nn.Embedding(VOCAB, E, padding_idx=PAD)
        self.enc = nn.GRU(E, H, batch_first=True, bidirectional=True)
        self.bridge = nn.Linear(2 * H, 2 * H)
        self.dec = nn.GRU(E, 2 * H, batch_first=True)
        self.w = nn.Linear(2 * H, 2 * H, bias=False)
        self.out = nn.Linear(4 * H, VOCAB)

    def embed(self, ids):
        if self.bug == "embedding_scaled":
            return self.emb(ids) * math.sqrt(E)  # BUG embedding_scaled: a Transformer's x sqrt(d_model) on an N(0, 1) embedding feeding GRUs
        return self.emb(ids)

    def encode(self, src, src_len):
        packed = pack_padded_sequence(self.embed(src), src_len.cpu(), batch_first=True, enforce_sorted=False)
        mem, h = self.enc(packed)                                             # h: (2, B, H)
        mem, _ = pad_packed_sequence(mem, batch_first=True, total_length=src.shape[1])
        b = src.shape[0]
        if self.bug == "final_states_reshaped":
            h = h.reshape(b, 2 * H)  # BUG final_states_reshaped: (2, B, H) reshaped to (B, 2H) without transpose(0, 1) first
        else:
            h = h.transpose(0, 1).reshape(b, 2 * H)
        return mem, torch.tanh(self.bridge(h))[None], src != PAD

    def step(self, tin, state, mem, real):  # tin (B, T) -> logits (B, T, V), state
        dec, state = self.dec(self.embed(tin), state)
        s = (dec @ self.w(mem).transpose(1, 2)).masked_fill(~real[:, None, :], float("-inf"))
        return self.out(torch.cat([dec, s.softmax(-1) @ mem], -1)), state

    def forward(self, src, src_len, tin):
        mem, state, real = self.encode(src, src_len)
        return self.step(tin, state, mem, real)[0]

    def greedy(self, src, src_len, steps=STEPS):
        mem, state, real = self.encode(src, src_len)
        tok, out = torch.full((src.shape[0], 1), BOS, device=src.device), []
        for _ in range(steps):
            logits, state = self.step(tok, state, mem, real)
            tok = logits.argmax(-1)
            out.append(tok)
        return torch.cat(out, 1)


def seq_loss(logits, tout, bug: str = "none"):
    if bug == "log_softmax_over_time":
        return F.nll_loss(logits.log_softmax(1).reshape(-1, VOCAB), tout.reshape(-1), ignore_index=PAD)  # BUG log_softmax_over_time: log_softmax(1) on (B, T, V), the classifier habit (dim=-1 meant)
    return F.cross_entropy(logits.reshape(-1, VOCAB), tout.reshape(-1), ignore_index=PAD)


def greedy_metrics(split, model, src, src_len, tout) -> dict:
    pred = model.greedy(src, src_len)[:, :tout.shape[1]]
    if pred.shape[1] < tout.shape[1]:
        pred = F.pad(pred, (0, tout.shape[1] - pred.shape[1]), value=PAD)
    real = tout != PAD
    right = (pred == tout) | ~real
    out = {f"{split}/acc": ((right & real).sum() / real.sum()).item()}
    if split == "val":
        out["val/exact"] = right.all(1).float().mean().item()
    return out


class PartitionTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "partition")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        items = self.train[:n]
        model = Partitioner(self.bug)
        bug = self.bug
        train_eval, val_eval = make_batch(items[:500], bug), make_batch(self.val, bug)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (src, src_len, tin, tout) in (("train", train_eval), ("val", val_eval)):
                    src, tin, tout = (on_device_of(model, t) for t in (src, tin, tout))
                    out[f"{split}/loss"] = seq_loss(model(src, src_len, tin), tout).item()
                    out.update(greedy_metrics(split, model, src, src_len, tout))
            return out

        return Problem(model=model, train_size=n,
                       get_batch=lambda idx: make_batch([items[i] for i in idx.tolist()], bug),
                       loss=lambda model, b: seq_loss(model(b[0], b[1], b[2]), b[3], bug),
                       evaluate=evaluate, chance_loss=math.log(VOCAB),
                       forward=lambda model, b: model(b[0], b[1], b[2]), targets=lambda b: b[3])
