"""Held-out-59 family 3: an LSTM encoder-decoder with additive (Bahdanau) attention run-length encoding a string
("aaabcc" -> "a 3 b 1 c 2"), over length-sorted packed sources, under Adam, over namedtuple batches, scored by greedy
decoding.

A string: 2..5 runs of a letter from a..f (a run's letter differs from the one before), each run 1..4 long (torch seed
0). Its code: each run's letter then its length. Source ids: PAD 0, a..f 1..6; target ids: PAD 0, BOS 1, EOS 2, a..f
3..8, lengths 1..4 as 9..12. 3000 training and 600 validation strings. Namedtuple batches Coded(src (B, S), src_len
(B,), tgt_in (B, T), tgt_out (B, T)), right-padded, the examples sorted by source length, longest first, for
pack_padded_sequence(enforce_sorted=True); teacher forcing: with seq = BOS + code + EOS, tgt_in = seq[:-1], tgt_out =
seq[1:]. Model: Embedding(7, 32) and Embedding(13, 32) (padding rows at 0); an LSTM encoder (128) over the packed source;
an LSTM decoder (128) started from the encoder's final (h, c); additive attention of each decoder output over the
encoder outputs, v . tanh(W_q q + W_k k), padded source positions at -1e9; Linear(256, 13) on [decoder output, context].
Loss: cross-entropy over non-PAD targets; Adam at 0.003, batch 32. Metrics: the teacher-forced loss, and from greedy
decoding (as many steps as the batch's targets have) the token accuracy and `exact` (every token up to the EOS right),
on the stage's first 500 strings and on validation. Each bug is one line, marked `# BUG <name>`.
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

BUGS = ("none", "sources_sorted_alone", "targets_time_major", "lstm_weights_std_1", "attention_mask_inverted")
Coded = namedtuple("Coded", "src src_len tgt_in tgt_out")
PAD, BOS, EOS, LETTERS, MAX_RUN, V_SRC, V_TGT, E, H, N_TRAIN, N_VAL = 0, 1, 2, 6, 4, 7, 13, 32, 128, 3000, 600


def draw(n: int, g: torch.Generator) -> list:
    out = []
    for _ in range(n):
        src, code, last = [], [], -1
        for _ in range(int(torch.randint(2, 6, (1,), generator=g))):
            letter = int(torch.randint(0, LETTERS - 1, (1,), generator=g))
            letter = letter + 1 if letter >= last >= 0 else letter  # never the letter before
            length = int(torch.randint(1, MAX_RUN + 1, (1,), generator=g))
            src += [letter + 1] * length
            code += [letter + 3, length + 8]
            last = letter
        out.append((src, code))
    return out


def make_batch(items: list, bug: str = "none") -> Coded:
    srcs, codes = [s for s, _ in items], [c for _, c in items]
    if bug == "sources_sorted_alone":
        srcs = sorted(srcs, key=len, reverse=True)  # BUG sources_sorted_alone: the sources sorted by length for packing, the codes left in their own order
    else:
        order = sorted(range(len(items)), key=lambda i: len(srcs[i]), reverse=True)
        srcs, codes = [srcs[i] for i in order], [codes[i] for i in order]
    b, s_w, t_w = len(items), max(len(s) for s in srcs), max(len(c) for c in codes) + 1
    src, tin, tout = torch.full((b, s_w), PAD), torch.full((b, t_w), PAD), torch.full((b, t_w), PAD)
    for i, (s, c) in enumerate(zip(srcs, codes)):
        src[i, :len(s)] = torch.tensor(s)
        seq = torch.tensor([BOS] + c + [EOS])
        tin[i, :len(c) + 1], tout[i, :len(c) + 1] = seq[:-1], seq[1:]
    return Coded(src, torch.tensor([len(s) for s in srcs]), tin, tout)


class RunCoder(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.src_emb, self.tgt_emb = nn.Embedding(V_SRC, E, padding_idx=PAD), nn.Embedding(V_TGT, E, padding_idx=PAD)
        self.enc, self.dec = nn.LSTM(E, H, batch_first=True), nn.LSTM(E, H, batch_first=True)
        self.wq, self.wk, self.v = nn.Linear(H, H, bias=False), nn.Linear(H, H), nn.Linear(H, 1, bias=False)
        self.out = nn.Linear(2 * H, V_TGT)
        if bug == "lstm_weights_std_1":
            [nn.init.normal_(p) for name, p in self.named_parameters() if name.startswith(("enc.weight", "dec.weight"))]  # BUG lstm_weights_std_1: normal_(w) for the LSTMs' weights, std=1/sqrt(H) forgotten (std 1.0: 20x PyTorch's default)

    def encode(self, src, src_len):
        packed = pack_padded_sequence(self.src_emb(src), src_len.cpu(), batch_first=True, enforce_sorted=True)
        out, state = self.enc(packed)
        memory, _ = pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])
        return memory, state

    def read_out(self, q, memory, src):  # q (B, T, H), memory (B, S, H) -> (B, T, V_TGT)
        scores = self.v(torch.tanh(self.wq(q)[:, :, None] + self.wk(memory)[:, None])).squeeze(-1)  # (B, T, S)
        if self.bug == "attention_mask_inverted":
            scores = scores.masked_fill((src != PAD)[:, None, :], -1e9)  # BUG attention_mask_inverted: the mask of the real tokens where the padding's (src == PAD) was meant
        else:
            scores = scores.masked_fill((src == PAD)[:, None, :], -1e9)
        return self.out(torch.cat([q, scores.softmax(-1) @ memory], -1))

    def forward(self, src, src_len, tgt_in):
        memory, state = self.encode(src, src_len)
        q, _ = self.dec(self.tgt_emb(tgt_in), state)
        return self.read_out(q, memory, src)

    def greedy(self, src, src_len, steps: int):
        memory, state = self.encode(src, src_len)
        token, out = torch.full((src.shape[0], 1), BOS, device=src.device), []
        for _ in range(steps):
            q, state = self.dec(self.tgt_emb(token), state)
            token = self.read_out(q, memory, src).argmax(-1)
            out.append(token)
        return torch.cat(out, 1)


def code_loss(logits, tout, bug: str = "none"):
    if bug == "targets_time_major":
        return F.cross_entropy(logits.reshape(-1, V_TGT), tout.t().reshape(-1), ignore_index=PAD)  # BUG targets_time_major: the targets flattened time-major (.t(), from the old time-major decoder) against batch-first logits
    return F.cross_entropy(logits.reshape(-1, V_TGT), tout.reshape(-1), ignore_index=PAD)


class RunsTask:
    metrics = ("train/loss", "train/acc", "train/exact", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "runs")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        items = self.train[:n]
        model = RunCoder(self.bug)
        bug = self.bug
        train_eval, val_eval = make_batch(items[:500], bug), make_batch(self.val, bug)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    src, tin, tout = (on_device_of(model, t) for t in (b.src, b.tgt_in, b.tgt_out))
                    out[f"{split}/loss"] = code_loss(model(src, b.src_len, tin), tout).item()
                    pred = model.greedy(src, b.src_len, tout.shape[1])
                    real = tout != PAD
                    out[f"{split}/acc"] = ((pred == tout) & real).sum().item() / real.sum().item()
                    out[f"{split}/exact"] = ((pred == tout) | ~real).all(1).float().mean().item()
            return out

        return Problem(model=model, train_size=n,
                       get_batch=lambda idx: make_batch([items[i] for i in idx.tolist()], bug),
                       loss=lambda model, b: code_loss(model(b.src, b.src_len, b.tgt_in), b.tgt_out, bug),
                       evaluate=evaluate, chance_loss=math.log(V_TGT),
                       forward=lambda model, b: model(b.src, b.src_len, b.tgt_in), targets=lambda b: b.tgt_out)
