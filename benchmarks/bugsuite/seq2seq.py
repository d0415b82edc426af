"""Family 3: a GRU encoder-decoder that reverses short token sequences, with padding and dict batches.

A batch is {"src", "tgt_in", "tgt_out"}, every sequence padded to one fixed length (so an example's
output never depends on its batch-mates' lengths). The Problem gives `forward` and `targets`.
Each bug is one line, marked `# BUG <name>`, next to the clean line it replaces.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from orchestrator.task import Problem

from .common import check_bug, evaluating, on_device_of, sequence_metrics, subset_size

BUGS = ("none", "detached_encoder", "large_init_rnn", "norm_without_eps", "misaligned_pairs")
PAD, BOS, EOS, FIRST_SYMBOL = 0, 1, 2, 3
SYMBOLS, MIN_LEN, MAX_LEN = 10, 3, 7
VOCAB = FIRST_SYMBOL + SYMBOLS


def reversal_pairs(n: int, seed: int) -> dict[str, torch.Tensor]:
    """n random sequences and their reversals: src (n, MAX_LEN), tgt_in / tgt_out (n, MAX_LEN + 1)."""
    g = torch.Generator().manual_seed(seed)
    src = torch.full((n, MAX_LEN), PAD)
    tgt_in = torch.full((n, MAX_LEN + 1), PAD)
    tgt_out = torch.full((n, MAX_LEN + 1), PAD)
    for i in range(n):
        length = int(torch.randint(MIN_LEN, MAX_LEN + 1, (1,), generator=g))
        seq = torch.randint(FIRST_SYMBOL, VOCAB, (length,), generator=g)
        src[i, :length] = seq
        tgt_in[i, 0], tgt_in[i, 1:length + 1] = BOS, seq.flip(0)
        tgt_out[i, :length], tgt_out[i, length] = seq.flip(0), EOS
    return {"src": src, "tgt_in": tgt_in, "tgt_out": tgt_out}


class Reverser(nn.Module):
    def __init__(self, bug: str, emb: int = 32, hidden: int = 96):
        super().__init__()
        self.bug = bug
        self.emb = nn.Embedding(VOCAB, emb, padding_idx=PAD)  # the PAD row is zero and stays zero
        self.encoder = nn.GRU(emb, hidden, batch_first=True)
        self.decoder = nn.GRU(emb, hidden, batch_first=True)
        self.out = nn.Linear(hidden, VOCAB)
        if bug == "large_init_rnn":
            with torch.no_grad():
                for p in self.decoder.parameters():
                    p.uniform_(-2.0, 2.0)  # BUG large_init_rnn: "bigger init helps long memory"

    def embed(self, tokens):
        e = self.emb(tokens)
        if self.bug == "norm_without_eps":
            return e / e.norm(dim=-1, keepdim=True) * 4  # BUG norm_without_eps: the PAD row has norm 0
        return e / e.norm(dim=-1, keepdim=True).clamp_min(1e-6) * 4  # unit-length embeddings, scaled

    def forward(self, src, tgt_in):
        _, h = self.encoder(self.embed(src))
        if self.bug == "detached_encoder":
            h = h.detach()  # BUG detached_encoder: no gradient reaches the encoder
        states, _ = self.decoder(self.embed(tgt_in), h)
        return self.out(states)


class Seq2SeqTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none", n_train: int = 3000, n_val: int = 500):
        self.bug = check_bug(bug, BUGS, "seq2seq")
        self.train = reversal_pairs(n_train, seed=0)
        self.val = reversal_pairs(n_val, seed=1)
        if bug == "misaligned_pairs":
            for data in (self.train, self.val):
                data["src"] = data["src"].roll(1, 0)  # BUG misaligned_pairs: sources off by one line

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.train["src"]))
        train = {k: v[:n] for k, v in self.train.items()}
        model = Reverser(self.bug)

        def forward(model, batch):
            return model(batch["src"], batch["tgt_in"])

        def loss(model, batch):
            logits = forward(model, batch)
            return F.cross_entropy(logits.flatten(0, 1), batch["tgt_out"].flatten(), ignore_index=PAD)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, data in (("train", train), ("val", self.val)):
                    data = on_device_of(model, data)
                    out.update(sequence_metrics(split, forward(model, data), data["tgt_out"], PAD))
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: {k: v[idx] for k, v in train.items()},
                       loss=loss, evaluate=evaluate, chance_loss=math.log(VOCAB), forward=forward,
                       targets=lambda batch: batch["tgt_out"], best_loss=0.0)
