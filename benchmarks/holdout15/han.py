"""Held-out-15 family 3: a hierarchical attention network (word GRU + attention, sentence GRU + attention).

Generated documents of 2..6 sentences, each of 3..8 words out of 40 (ids from 1; 0 pads). Two keywords, A and B:
the first sentence holds one of them and so does the second (at a random place); later sentences may hold either
as a distractor. The class (4) is which keyword the first sentence holds x which the second holds, so a model must
find the keyword of each sentence and know which sentence it is in. Documents are stored padded to 6 x 8 and a
batch is cut to its longest document and longest sentence (padding varies with the batch). Model: word
embedding 40 -> 32, a word-level GRU (32 -> 48, over each sentence's words, padding at the end) with additive
attention (v^T tanh(W h), a masked softmax written out: exp, padding zeroed, divided by the sum plus 1e-9 so that a
padding sentence gets all-zero weights) giving a sentence vector; a sentence-level GRU (48 -> 48) over a document's
sentences with the same attention over its real sentences; linear 48 -> 4. Cross-entropy, Adam at 0.003.
Tuple batches (words (B, S, W), classes (B,)). Goal: validation accuracy.
Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "sentence_padding_unmasked", "attention_sum_no_eps", "val_labels_from_train")
PAD, KEY_A, KEY_B, VOCAB = 0, 1, 2, 40
MAX_SENTS, MAX_WORDS, EMBED, HIDDEN, CLASSES = 6, 8, 32, 48, 4
DATA_SEED, N_TRAIN, N_VAL = 0, 2000, 500


def documents(n: int, g: torch.Generator):
    docs = torch.zeros(n, MAX_SENTS, MAX_WORDS, dtype=torch.long)
    y = torch.randint(CLASSES, (n,), generator=g)
    for i in range(n):
        sents = int(torch.randint(2, MAX_SENTS + 1, (1,), generator=g))
        for s in range(sents):
            words = int(torch.randint(3, MAX_WORDS + 1, (1,), generator=g))
            docs[i, s, :words] = torch.randint(3, VOCAB, (words,), generator=g)  # filler words
            if s < 2:
                keyword = KEY_B if (int(y[i]) >> s) & 1 else KEY_A
            elif float(torch.rand(1, generator=g)) < 0.5:
                keyword = int(torch.randint(KEY_A, KEY_B + 1, (1,), generator=g))  # a distractor
            else:
                continue
            docs[i, s, int(torch.randint(words, (1,), generator=g))] = keyword
    return docs, y


def trimmed(docs: torch.Tensor) -> torch.Tensor:
    """Cut a batch to its longest document and longest sentence."""
    real = docs != PAD
    sents = int(real.any(2).sum(1).max())
    words = int(real.sum(2).max())
    return docs[:, :sents, :words]


class Attention(nn.Module):
    """Additive attention pooling over the positions that `mask` keeps, the masked softmax written out."""

    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.proj, self.v = nn.Linear(HIDDEN, HIDDEN), nn.Linear(HIDDEN, 1, bias=False)

    def forward(self, h, mask):  # (N, T, H), (N, T) -> (N, H)
        scores = self.v(torch.tanh(self.proj(h))).squeeze(-1)
        e = torch.exp(scores - scores.max(-1, keepdim=True).values) * mask
        if self.bug == "attention_sum_no_eps":
            alpha = e / e.sum(-1, keepdim=True)  # BUG attention_sum_no_eps: a padding sentence's weights are 0 / 0
        else:
            alpha = e / (e.sum(-1, keepdim=True) + 1e-9)
        return (alpha[..., None] * h).sum(1)


class HAN(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.embed = nn.Embedding(VOCAB, EMBED, padding_idx=PAD)
        self.word_gru, self.word_att = nn.GRU(EMBED, HIDDEN, batch_first=True), Attention(bug)
        self.sent_gru, self.sent_att = nn.GRU(HIDDEN, HIDDEN, batch_first=True), Attention(bug)
        self.out = nn.Linear(HIDDEN, CLASSES)

    def forward(self, docs):  # (B, S, W) word ids -> (B, 4) logits
        b, s, w = docs.shape
        words = docs.reshape(b * s, w)
        word_mask = (words != PAD).float()
        h, _ = self.word_gru(self.embed(words))
        sentences = self.word_att(h, word_mask).reshape(b, s, HIDDEN)
        sent_mask = (docs != PAD).any(2).float()
        if self.bug == "sentence_padding_unmasked":
            sent_mask = torch.ones_like(sent_mask)  # BUG sentence_padding_unmasked: padding sentences attended to
        h, _ = self.sent_gru(sentences)
        return self.out(self.sent_att(h, sent_mask))


class HANTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "han")
        g = torch.Generator().manual_seed(DATA_SEED)
        self.train, self.val = documents(N_TRAIN, g), documents(N_VAL, g)
        if self.bug == "val_labels_from_train":
            self.val = (self.val[0], self.train[1][:N_VAL])  # BUG val_labels_from_train: labels of another split

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.train[0][:n], self.train[1][:n]
        model = HAN(self.bug)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, (xs, ys) in (("train", (x, y)), ("val", self.val)):
                    logits = model(trimmed(xs))
                    out[f"{split}/loss"] = F.cross_entropy(logits, ys).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (trimmed(x[idx]), y[idx]),
                       loss=lambda model, b: F.cross_entropy(model(b[0]), b[1]), evaluate=evaluate,
                       chance_loss=math.log(CLASSES), forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
