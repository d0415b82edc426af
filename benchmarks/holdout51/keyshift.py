"""Held-out-51 family 3: an LSTM encoder-decoder with dot-product attention over the padded source, retyping a word
as if both hands sat one key to the right on a QWERTY keyboard, over dataclass batches, scored by greedy decoding.

A word: 3..8 letters a..z (uniform); its target: each letter replaced by the key to its right on its keyboard row
(qwertyuiop, asdfghjkl, zxcvbnm; the row's last key wraps to its first), then EOS. Ids: PAD 0, BOS 1, EOS 2, a..z
3..28. Torch seed 0 draws 3000 training and 600 validation words. Dataclass batches Typing(src (B, S), tgt_in (B, T),
tgt_out (B, T)), right-padded; teacher forcing: with seq = BOS + target + EOS, tgt_in = seq[:-1], tgt_out = seq[1:].
Model: source and target embeddings of 32 (padding_idx 0); an LSTM encoder (64) over the packed source; an LSTM decoder
(64) from the encoder's final state; Luong dot attention of each decoder output over the encoder outputs, the padded
source positions masked with -inf; Linear(128, 29) on [decoder output, context]. Loss: cross-entropy over non-PAD
targets; Adam at 0.003. Metrics: teacher-forced token loss, and from greedy decoding (up to 9 steps) the token accuracy
over the target's positions (EOS included) and `exact`, on the stage's first 500 words and on validation. Each bug is
one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "sources_sorted_alone", "targets_time_major", "lstm_normal_std1", "mask_of_first_word")
PAD, BOS, EOS, V, E, H = 0, 1, 2, 29, 32, 64
MIN_LEN, MAX_LEN, N_TRAIN, N_VAL = 3, 8, 3000, 600
ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
RIGHT = {ord(r[i]) - 97 + 3: ord(r[(i + 1) % len(r)]) - 97 + 3 for r in ROWS for i in range(len(r))}


@dataclass
class Typing:
    src: torch.Tensor      # (B, S) letter ids, PAD 0
    tgt_in: torch.Tensor   # (B, T) BOS + target
    tgt_out: torch.Tensor  # (B, T) target + EOS


def draw(n: int, g: torch.Generator) -> list[list[int]]:
    return [torch.randint(3, V, (int(torch.randint(MIN_LEN, MAX_LEN + 1, (1,), generator=g)),), generator=g).tolist()
            for _ in range(n)]


def make_batch(words: list, bug: str = "none") -> Typing:
    b, width = len(words), max(len(w) for w in words)
    src, tgt_in, tgt_out = (torch.full((b, width), PAD), torch.full((b, width + 1), PAD),
                            torch.full((b, width + 1), PAD))
    if bug == "sources_sorted_alone":
        src_words = sorted(words, key=len, reverse=True)  # BUG sources_sorted_alone: sources sorted by length for packing, the targets left in batch order
    else:
        src_words = words
    for i, w in enumerate(src_words):
        src[i, :len(w)] = torch.tensor(w)
    for i, w in enumerate(words):
        seq = torch.tensor([BOS] + [RIGHT[c] for c in w] + [EOS])
        tgt_in[i, :len(w) + 1], tgt_out[i, :len(w) + 1] = seq[:-1], seq[1:]
    return Typing(src, tgt_in, tgt_out)


class Retyper(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.src_emb, self.tgt_emb = nn.Embedding(V, E, padding_idx=PAD), nn.Embedding(V, E, padding_idx=PAD)
        self.enc, self.dec = nn.LSTM(E, H, batch_first=True), nn.LSTM(E, H, batch_first=True)
        self.out = nn.Linear(2 * H, V)
        if bug == "lstm_normal_std1":
            [nn.init.normal_(p, 0.0, 1.0) for name, p in self.named_parameters() if name.startswith(("enc.weight", "dec.weight"))]  # BUG lstm_normal_std1: "weights ~ N(0, 1)" for the LSTMs' input and recurrent matrices

    def encode(self, src):
        lengths = (src != PAD).sum(1).clamp(min=1).cpu()
        packed = pack_padded_sequence(self.src_emb(src), lengths, batch_first=True, enforce_sorted=False)
        out, state = self.enc(packed)
        memory, _ = pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])
        return memory, state

    def attend(self, q, memory, pad):  # q (B, T, H), memory (B, S, H), pad (B, S) True at PAD
        scores = q @ memory.transpose(1, 2)
        scores = scores.masked_fill(pad[:, None, :], float("-inf"))
        context = scores.softmax(-1) @ memory
        return self.out(torch.cat([q, context], -1))

    def padding(self, src):  # (B, S) True at the keys attention must not read
        if self.bug == "mask_of_first_word":
            return (src[0] == PAD).expand_as(src)  # BUG mask_of_first_word: src[0] taken as a time step (code written for (S, B) tensors): every word gets the first word's padding
        return src == PAD

    def forward(self, src, tgt_in):  # -> (B, T, V) logits
        memory, state = self.encode(src)
        q, _ = self.dec(self.tgt_emb(tgt_in), state)
        return self.attend(q, memory, self.padding(src))

    def greedy(self, src, steps: int):
        memory, state = self.encode(src)
        token, out = torch.full((src.shape[0], 1), BOS, device=src.device), []
        for _ in range(steps):
            q, state = self.dec(self.tgt_emb(token), state)
            token = self.attend(q, memory, self.padding(src)).argmax(-1)
            out.append(token)
        return torch.cat(out, 1)


def token_loss(logits, tgt_out, bug: str = "none"):
    if bug == "targets_time_major":
        return F.cross_entropy(logits.reshape(-1, V), tgt_out.t().reshape(-1), ignore_index=PAD)  # BUG targets_time_major: targets flattened time-major (left from a seq-first version) against batch-first logits
    return F.cross_entropy(logits.reshape(-1, V), tgt_out.reshape(-1), ignore_index=PAD)


class KeyShiftTask:
    metrics = ("train/loss", "train/acc", "train/exact", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "keyshift")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        words = self.train[:n]
        model = Retyper(self.bug)
        bug = self.bug
        train_eval, val_eval = make_batch(words[:500]), make_batch(self.val)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    src, tgt_in, tgt = (on_device_of(model, t) for t in (b.src, b.tgt_in, b.tgt_out))
                    pred = model.greedy(src, MAX_LEN + 1)[:, :tgt.shape[1]]
                    real = tgt != PAD
                    out[f"{split}/loss"] = token_loss(model(src, tgt_in), tgt).item()
                    out[f"{split}/acc"] = ((pred == tgt) & real).sum().item() / real.sum().item()
                    out[f"{split}/exact"] = ((pred == tgt) | ~real).all(1).float().mean().item()
            return out

        return Problem(model=model, train_size=n,
                       get_batch=lambda idx: make_batch([words[i] for i in idx.tolist()], bug),
                       loss=lambda model, b: token_loss(model(b.src, b.tgt_in), b.tgt_out, bug), evaluate=evaluate,
                       chance_loss=math.log(V), forward=lambda model, b: model(b.src, b.tgt_in),
                       targets=lambda b: b.tgt_out)
