"""Held-out-55 family 3: an LSTM encoder-decoder with scaled dot-product attention decoding multi-tap phone keypad
presses into the word typed, under RAdam, over namedtuple batches, scored by greedy decoding.

A word: 2..4 letters drawn uniformly from a..z (torch seed 0). Its presses: each letter is its key (2 abc, 3 def,
4 ghi, 5 jkl, 6 mno, 7 pqrs, 8 tuv, 9 wxyz) pressed once per place in the key's letters ("c" is 222, "s" is 7777),
the letters separated by a pause `_`. Source ids: PAD 0, keys 2..9 as 1..8, pause 9; target ids: PAD 0, BOS 1, EOS 2,
letters a..z as 3..28. 3000 training and 600 validation words. Namedtuple batches Presses(src (B, S), tgt_in (B, T),
tgt_out (B, T)), right-padded; teacher forcing: with seq = BOS + letters + EOS, tgt_in = seq[:-1], tgt_out = seq[1:].
Model: Embedding(10, 32) and Embedding(29, 32) (padding rows at 0); an LSTM encoder (96) over the packed source; an
LSTM decoder (96) from the encoder's final (h, c); scaled dot-product attention of each decoder output over the encoder
outputs, padded source positions filled with -1e9; Linear(192, 29) on [decoder output, context]. Loss: cross-entropy
over non-PAD targets; RAdam at 0.01. Metrics: teacher-forced token loss, and from greedy decoding (as many steps as
the target has tokens, EOS included) the token accuracy and `exact` (every letter and the EOS right), on the stage's
first 500 words and on validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from collections import namedtuple
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "pauses_dropped", "softmax_then_cross_entropy", "lstm_biases_constant_5",
        "attention_softmax_over_queries")
Presses = namedtuple("Presses", "src tgt_in tgt_out")
PAD, BOS, EOS, PAUSE, V_SRC, V_TGT, E, H = 0, 1, 2, 9, 10, 29, 32, 96
MIN_LETTERS, MAX_LETTERS, N_TRAIN, N_VAL = 2, 4, 3000, 600
KEYS = ("abc", "def", "ghi", "jkl", "mno", "pqrs", "tuv", "wxyz")
PRESSES = {ch: (k + 1, i + 1) for k, letters in enumerate(KEYS) for i, ch in enumerate(letters)}  # letter -> (src id, count)


def draw(n: int, g: torch.Generator) -> list[list[int]]:
    return [torch.randint(0, 26, (int(torch.randint(MIN_LETTERS, MAX_LETTERS + 1, (1,), generator=g)),),
                          generator=g).tolist() for _ in range(n)]


def presses(word: list[int], bug: str = "none") -> list[int]:
    out = []
    for i, letter in enumerate(word):
        key, count = PRESSES[chr(ord("a") + letter)]
        if i and bug != "pauses_dropped":  # BUG pauses_dropped: the pause between letters left out ("22" is then "b" or "aa")
            out.append(PAUSE)
        out += [key] * count
    return out


def make_batch(words: list, bug: str = "none") -> Presses:
    b = len(words)
    srcs = [presses(w, bug) for w in words]
    width, tlen = max(len(s) for s in srcs), max(len(w) for w in words) + 1
    src, tgt_in, tgt_out = torch.full((b, width), PAD), torch.full((b, tlen), PAD), torch.full((b, tlen), PAD)
    for i, (w, s) in enumerate(zip(words, srcs)):
        src[i, :len(s)] = torch.tensor(s)
        seq = torch.tensor([BOS] + [c + 3 for c in w] + [EOS])
        tgt_in[i, :len(w) + 1], tgt_out[i, :len(w) + 1] = seq[:-1], seq[1:]
    return Presses(src, tgt_in, tgt_out)


class KeypadReader(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.src_emb, self.tgt_emb = nn.Embedding(V_SRC, E, padding_idx=PAD), nn.Embedding(V_TGT, E, padding_idx=PAD)
        self.enc, self.dec = nn.LSTM(E, H, batch_first=True), nn.LSTM(E, H, batch_first=True)
        self.out = nn.Linear(2 * H, V_TGT)
        if bug == "lstm_biases_constant_5":
            [nn.init.constant_(p, 5.0) for name, p in self.named_parameters() if "bias" in name and name.startswith(("enc.", "dec."))]  # BUG lstm_biases_constant_5: the forget-gate bias trick applied to the LSTMs' whole bias vectors, at 5

    def encode(self, src):
        lengths = (src != PAD).sum(1).clamp(min=1).cpu()
        packed = pack_padded_sequence(self.src_emb(src), lengths, batch_first=True, enforce_sorted=False)
        out, state = self.enc(packed)
        memory, _ = pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])
        return memory, state

    def read_out(self, q, memory, pad):  # q (B, T, H), memory (B, S, H), pad (B, S) True at PAD
        scores = (q @ memory.transpose(1, 2)) / math.sqrt(H)
        scores = scores.masked_fill(pad[:, None, :], -1e9)
        if self.bug == "attention_softmax_over_queries":
            weights = scores.softmax(1)  # BUG attention_softmax_over_queries: softmax over dim 1 (the decoder steps), -1 (the source) meant
        else:
            weights = scores.softmax(-1)
        logits = self.out(torch.cat([q, weights @ memory], -1))
        if self.bug == "softmax_then_cross_entropy":
            return logits.softmax(-1)  # BUG softmax_then_cross_entropy: the model returns probabilities, which the loss's cross_entropy takes as logits
        return logits

    def forward(self, src, tgt_in):  # -> (B, T, V_TGT) scores
        memory, state = self.encode(src)
        q, _ = self.dec(self.tgt_emb(tgt_in), state)
        return self.read_out(q, memory, src == PAD)

    def greedy(self, src, steps: int):
        memory, state = self.encode(src)
        token, out = torch.full((src.shape[0], 1), BOS, device=src.device), []
        for _ in range(steps):
            q, state = self.dec(self.tgt_emb(token), state)
            token = self.read_out(q, memory, src == PAD).argmax(-1)
            out.append(token)
        return torch.cat(out, 1)


def token_loss(scores, tgt_out):
    return F.cross_entropy(scores.transpose(1, 2), tgt_out, ignore_index=PAD)


class KeypadTask:
    metrics = ("train/loss", "train/acc", "train/exact", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "keypad")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        words = self.train[:n]
        model = KeypadReader(self.bug)
        bug = self.bug
        train_eval, val_eval = make_batch(words[:500], bug), make_batch(self.val, bug)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, batch in (("train", train_eval), ("val", val_eval)):
                    src, tgt_in, tgt = (on_device_of(model, t) for t in batch)
                    pred = model.greedy(src, tgt.shape[1])
                    real = tgt != PAD
                    out[f"{split}/loss"] = token_loss(model(src, tgt_in), tgt).item()
                    out[f"{split}/acc"] = ((pred == tgt) & real).sum().item() / real.sum().item()
                    out[f"{split}/exact"] = ((pred == tgt) | ~real).all(1).float().mean().item()
            return out

        return Problem(model=model, train_size=n,
                       get_batch=lambda idx: make_batch([words[i] for i in idx.tolist()], bug),
                       loss=lambda model, b: token_loss(model(b.src, b.tgt_in), b.tgt_out), evaluate=evaluate,
                       chance_loss=math.log(V_TGT), forward=lambda model, b: model(b.src, b.tgt_in),
                       targets=lambda b: b.tgt_out)
