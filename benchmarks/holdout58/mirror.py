"""Held-out-58 family 4: an encoder-decoder Transformer (hand-written multi-head attention under a source padding mask,
a causal-and-padding mask in the decoder, pre-LN blocks with nn.LayerNorm) writing a word backwards with every letter
moved one on in the alphabet ("badge" -> "fhebc"; h wraps to a), under Adam, over namedtuple batches, scored by greedy
decoding.

A word: 3..10 letters drawn uniformly from a..h (torch seed 0); 3000 training and 400 validation words. Ids (one
vocabulary for both sides): PAD 0, BOS 1, EOS 2, a..h 3..10. Namedtuple batches Pair(src (B, S), tgt_in (B, T), tgt_out
(B, T)), right-padded: tgt_in = BOS + answer, tgt_out = answer + EOS. Model (width 64, 4 heads of 16, feed-forward 128
with ReLU): a token embedding shared by both sides plus learned positions (16); two encoder blocks (self-attention with
padded source keys at -inf) and two decoder blocks (self-attention with future and padded target keys at -inf,
cross-attention with padded source keys at -inf), each pre-LN with residuals; final LayerNorms; Linear(64, 11) on the
decoder's output. Loss: cross-entropy over non-PAD targets; Adam (betas 0.9, 0.98) at 0.001, batch 32. Metrics:
teacher-forced `loss`, and from greedy decoding (as many steps as the target has tokens, EOS included) token `acc` and
`exact`, on the stage's first 200 words and on validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from collections import namedtuple
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "decoder_sees_future", "mask_after_softmax", "logits_over_sqrt_d", "eos_is_pad")
Pair = namedtuple("Pair", "src tgt_in tgt_out")
PAD, BOS, EOS, LETTERS, D, HEADS, FF, MAX_POS, N_TRAIN, N_VAL = 0, 1, 2, 8, 64, 4, 128, 16, 3000, 400
V = 3 + LETTERS


def draw(n: int, g: torch.Generator) -> list[list[int]]:
    return [torch.randint(0, LETTERS, (int(torch.randint(3, 11, (1,), generator=g)),), generator=g).tolist()
            for _ in range(n)]


def make_batch(words: list[list[int]], bug: str = "none") -> Pair:
    eos = PAD if bug == "eos_is_pad" else EOS  # BUG eos_is_pad: the tokeniser's end-of-word id set to 0, the PAD id the loss ignores
    answers = [[3 + (c + 1) % LETTERS for c in reversed(w)] for w in words]
    width = max(map(len, words))
    src, tgt_in, tgt_out = (torch.full((len(words), width + (k > 0)), PAD) for k in range(3))
    for i, (w, a) in enumerate(zip(words, answers)):
        src[i, :len(w)] = torch.tensor([3 + c for c in w])
        tgt_in[i, :len(a) + 1] = torch.tensor([BOS] + a)
        tgt_out[i, :len(a) + 1] = torch.tensor(a + [eos])
    return Pair(src, tgt_in, tgt_out)


class Attention(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.q, self.k, self.v, self.o = (nn.Linear(D, D) for _ in range(4))

    def forward(self, x, memory, blocked):  # blocked (B, 1, Tq or 1, Tk): True where a query may not see a key
        b, tq, tk = x.shape[0], x.shape[1], memory.shape[1]
        q = self.q(x).view(b, tq, HEADS, D // HEADS).transpose(1, 2)
        k = self.k(memory).view(b, tk, HEADS, D // HEADS).transpose(1, 2)
        v = self.v(memory).view(b, tk, HEADS, D // HEADS).transpose(1, 2)
        scores = q @ k.transpose(-2, -1) / math.sqrt(D // HEADS)
        if self.bug == "mask_after_softmax":
            weights = scores.softmax(-1).masked_fill(blocked, 0.0)  # BUG mask_after_softmax: the mask applied to the attention weights after the softmax (zeroed) instead of to the scores before it (-inf)
        else:
            weights = scores.masked_fill(blocked, float("-inf")).softmax(-1)
        return self.o((weights @ v).transpose(1, 2).reshape(b, tq, D))


class EncoderBlock(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.n1, self.n2, self.att = nn.LayerNorm(D), nn.LayerNorm(D), Attention(bug)
        self.ff = nn.Sequential(nn.Linear(D, FF), nn.ReLU(), nn.Linear(FF, D))

    def forward(self, x, src_blocked):
        h = self.n1(x)
        x = x + self.att(h, h, src_blocked)
        return x + self.ff(self.n2(x))


class DecoderBlock(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.n1, self.n2, self.n3 = nn.LayerNorm(D), nn.LayerNorm(D), nn.LayerNorm(D)
        self.self_att, self.cross_att = Attention(bug), Attention(bug)
        self.ff = nn.Sequential(nn.Linear(D, FF), nn.ReLU(), nn.Linear(FF, D))

    def forward(self, y, memory, tgt_blocked, src_blocked):
        h = self.n1(y)
        y = y + self.self_att(h, h, tgt_blocked)
        y = y + self.cross_att(self.n2(y), memory, src_blocked)
        return y + self.ff(self.n3(y))


class Mirror(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.tok, self.pos = nn.Embedding(V, D), nn.Embedding(MAX_POS, D)
        self.encoder = nn.ModuleList([EncoderBlock(bug), EncoderBlock(bug)])
        self.decoder = nn.ModuleList([DecoderBlock(bug), DecoderBlock(bug)])
        self.enc_norm, self.dec_norm = nn.LayerNorm(D), nn.LayerNorm(D)
        self.out = nn.Linear(D, V)

    def embed(self, ids):
        return self.tok(ids) + self.pos(torch.arange(ids.shape[1], device=ids.device))[None]

    def encode(self, src):
        src_blocked = (src == PAD)[:, None, None, :]
        x = self.embed(src)
        for block in self.encoder:
            x = block(x, src_blocked)
        return self.enc_norm(x), src_blocked

    def decode(self, tgt_in, memory, src_blocked):
        t = tgt_in.shape[1]
        future = torch.triu(torch.ones(t, t, dtype=torch.bool, device=tgt_in.device), 1)
        if self.bug == "decoder_sees_future":
            tgt_blocked = (tgt_in == PAD)[:, None, None, :]  # BUG decoder_sees_future: the decoder's self-attention given the target padding mask alone, the causal mask never combined with it
        else:
            tgt_blocked = (tgt_in == PAD)[:, None, None, :] | future[None, None]
        y = self.embed(tgt_in)
        for block in self.decoder:
            y = block(y, memory, tgt_blocked, src_blocked)
        logits = self.out(self.dec_norm(y))
        if self.bug == "logits_over_sqrt_d":
            return logits / math.sqrt(D)  # BUG logits_over_sqrt_d: the attention's 1/sqrt(d) scaling copied onto the output logits
        return logits

    def forward(self, src, tgt_in):  # -> (B, T, V) logits
        memory, src_blocked = self.encode(src)
        return self.decode(tgt_in, memory, src_blocked)

    def greedy(self, src, steps: int):
        memory, src_blocked = self.encode(src)
        seq = torch.full((src.shape[0], 1), BOS, device=src.device)
        for _ in range(steps):
            seq = torch.cat([seq, self.decode(seq, memory, src_blocked)[:, -1:].argmax(-1)], 1)
        return seq[:, 1:]


def seq_loss(logits, tgt_out):
    return F.cross_entropy(logits.transpose(1, 2), tgt_out, ignore_index=PAD)


class MirrorTask:
    metrics = ("train/loss", "train/acc", "train/exact", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "mirror")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        words = self.train[:n]
        model = Mirror(self.bug)
        bug = self.bug
        prepared = {"train": (make_batch(words[:200], bug), make_batch(words[:200])),
                    "val": (make_batch(self.val, bug), make_batch(self.val))}

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (scored, gold) in prepared.items():
                    src, tgt_in, tgt_out = (on_device_of(model, t) for t in scored)
                    answer = on_device_of(model, gold.tgt_out)  # the right answer, then EOS
                    pred = model.greedy(src, answer.shape[1])
                    real = answer != PAD
                    right = (pred == answer) | ~real
                    out[f"{split}/loss"] = seq_loss(model(src, tgt_in), tgt_out).item()
                    out[f"{split}/acc"] = ((pred == answer) & real).sum().item() / real.sum().item()
                    out[f"{split}/exact"] = right.all(1).float().mean().item()
            return out

        def get_batch(idx):
            return make_batch([words[i] for i in idx.tolist()], bug)

        return Problem(model=model, train_size=n, get_batch=get_batch,
                       loss=lambda model, b: seq_loss(model(b.src, b.tgt_in), b.tgt_out), evaluate=evaluate,
                       chance_loss=math.log(V), forward=lambda model, b: model(b.src, b.tgt_in),
                       targets=lambda b: b.tgt_out)
