"""Held-out-26 family 3: an LSTM encoder-decoder with masked dot attention spelling numbers out in English words.

A number of 1..4 digits (the length drawn with weights 1:2:3:4, no leading zero but for 0 itself) is read as its
digit tokens and written as its English words then EOS: 3042 -> "three thousand forty two", 110 -> "one hundred
ten", 0 -> "zero" (1..7 words). Source ids: PAD 0, digits 1..10; target ids: PAD 0, BOS 1, EOS 2, then 30 words.
Torch seed 0: 3000 training and 500 validation numbers. Dict batches {src (B, S), src_len (B,), tgt_in (B, T),
tgt (B, T)}, right-padded with PAD; the decoder reads BOS then the target but the last (teacher forcing). Model:
embeddings of 32, an LSTM encoder (128) run over the packed source (`pack_padded_sequence`), its final (h, c)
starting the decoder LSTM (128); Luong dot attention of each decoder output over the encoder outputs, the padding
keys masked with -inf; a linear layer on [decoder output; context] to the target ids. Cross-entropy, PAD ignored;
Adam at 0.003. Metrics: token loss and accuracy over non-PAD targets (train: the stage's first 400), val/exact (whole
spellings, teacher forced). Each bug is one line, marked `# BUG <name>`.
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

BUGS = ("none", "tgt_in_not_shifted", "loss_on_decoder_input", "embeddings_in_dict", "normal_init_everything",
        "pad_mask_inverted")
ONES = "zero one two three four five six seven eight nine".split()
TEENS = "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
WORDS = ONES + TEENS + TENS[2:] + ["hundred", "thousand"]
PAD, BOS, EOS = 0, 1, 2
SRC_V, TGT_V = 11, 3 + len(WORDS)
E, H = 32, 128
N_TRAIN, N_VAL = 3000, 500


def spell(n: int) -> list[str]:
    if n == 0:
        return ["zero"]
    out = []
    if n >= 1000:
        out += [ONES[n // 1000], "thousand"]
    if n % 1000 >= 100:
        out += [ONES[n % 1000 // 100], "hundred"]
    rest = n % 100
    if 10 <= rest < 20:
        out.append(TEENS[rest - 10])
    else:
        if rest >= 20:
            out.append(TENS[rest // 10])
        if rest % 10:
            out.append(ONES[rest % 10])
    return out


def draw(n: int, g: torch.Generator) -> list[tuple[list[int], list[int]]]:
    lengths = torch.multinomial(torch.tensor([1.0, 2, 3, 4]), n, replacement=True, generator=g) + 1
    out = []
    for length in lengths.tolist():
        lo = 0 if length == 1 else 10 ** (length - 1)
        number = int(torch.randint(lo, 10 ** length, (1,), generator=g))
        out.append(([1 + int(d) for d in str(number)], [3 + WORDS.index(w) for w in spell(number)] + [EOS]))
    return out


def make_batch(srcs: list, tgts: list, bug: str = "none") -> dict:
    s_w, t_w = max(len(s) for s in srcs), max(len(t) for t in tgts)
    src, tgt_in, tgt = (torch.full((len(srcs), w), PAD) for w in (s_w, t_w, t_w))
    for i, (s, t) in enumerate(zip(srcs, tgts)):
        src[i, :len(s)] = torch.tensor(s)
        tgt[i, :len(t)] = torch.tensor(t)
        if bug == "tgt_in_not_shifted":
            tgt_in[i, :len(t)] = torch.tensor(t)  # BUG tgt_in_not_shifted: the decoder input is the target itself
        else:
            tgt_in[i, :len(t)] = torch.tensor([BOS] + t[:-1])
    return {"src": src, "src_len": torch.tensor([len(s) for s in srcs]), "tgt_in": tgt_in, "tgt": tgt}


class Speller(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        if bug == "embeddings_in_dict":
            self.emb = {"src": nn.Embedding(SRC_V, E, padding_idx=PAD), "tgt": nn.Embedding(TGT_V, E, padding_idx=PAD)}  # noqa: E501  BUG embeddings_in_dict: a plain dict, not nn.ModuleDict
        else:
            self.emb = nn.ModuleDict({"src": nn.Embedding(SRC_V, E, padding_idx=PAD),
                                      "tgt": nn.Embedding(TGT_V, E, padding_idx=PAD)})
        self.encoder = nn.LSTM(E, H, batch_first=True)
        self.decoder = nn.LSTM(E, H, batch_first=True)
        self.out = nn.Linear(2 * H, TGT_V)
        if bug == "normal_init_everything":
            for p in self.parameters():
                nn.init.normal_(p)  # BUG normal_init_everything: every parameter drawn from N(0, 1)

    def forward(self, src, src_len, tgt_in):  # -> (B, T, TGT_V) logits
        packed = pack_padded_sequence(self.emb["src"](src), src_len.cpu(), batch_first=True, enforce_sorted=False)
        enc, state = self.encoder(packed)
        enc, _ = pad_packed_sequence(enc, batch_first=True, total_length=src.shape[1])  # (B, S, H)
        dec, _ = self.decoder(self.emb["tgt"](tgt_in), state)                          # (B, T, H)
        scores = dec @ enc.transpose(1, 2)                                               # (B, T, S)
        if self.bug == "pad_mask_inverted":
            scores = scores.masked_fill((src != PAD)[:, None, :], float("-inf"))  # BUG pad_mask_inverted: != for ==
        else:
            scores = scores.masked_fill((src == PAD)[:, None, :], float("-inf"))
        context = scores.softmax(-1) @ enc
        return self.out(torch.cat([dec, context], -1))


class SpellNumTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "spellnum")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        pairs = self.train[:n]
        model = Speller(self.bug)
        train_eval = make_batch(*zip(*pairs[:400]), self.bug)
        val_eval = make_batch(*zip(*self.val), self.bug)

        def get_batch(idx):
            chosen = [pairs[i] for i in idx.tolist()]
            return make_batch([s for s, _ in chosen], [t for _, t in chosen], self.bug)

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
            if self.bug == "loss_on_decoder_input":
                return F.cross_entropy(logits.flatten(0, 1), b["tgt_in"].flatten(), ignore_index=PAD)  # noqa: E501  BUG loss_on_decoder_input: tgt_in for tgt
            return F.cross_entropy(logits.flatten(0, 1), b["tgt"].flatten(), ignore_index=PAD)

        return Problem(model=model, train_size=n, get_batch=get_batch, loss=loss, evaluate=evaluate,
                       chance_loss=math.log(TGT_V), forward=run, targets=lambda b: b["tgt"])
