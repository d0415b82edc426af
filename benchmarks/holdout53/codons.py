"""Held-out-53 family 3: a GRU encoder-decoder with additive (Bahdanau-style) attention translating a coding DNA
sequence into its protein (the standard genetic code, one amino acid per codon), over plain tuple batches.

A gene fragment: 2..5 codons drawn uniformly from the 61 sense codons (no stop codon; torch seed 0); the target is its
translation, one letter per codon. Source ids: PAD 0, A C G T 1..4; target ids: PAD 0, BOS 1, EOS 2, the 20 amino
acids 3..22. 3000 training and 600 validation fragments. Tuple batches (src (B, S), tgt_in (B, T), tgt_out (B, T)),
right-padded: tgt_in = BOS + protein, tgt_out = protein + EOS. Model: Embedding(5, 32) and Embedding(23, 32) (padding
rows at 0); a GRU(32, 128) encoder (batch_first; one direction, so that a source's states never read the padding
after it); the decoder's first state tanh(Linear(128, 128)) of the encoder outputs' mean over the real positions; a GRU(32, 128) decoder (batch_first, teacher forcing); additive
attention v^T tanh(W_q dec + W_k mem) over the source with padded positions at -inf; Linear(256, 23) on [decoder
output; context]. Cross-entropy over non-PAD targets; Adam at 0.003. Metrics: the teacher-forced loss, and from greedy
decoding (as long as the target, BOS first) the token accuracy and `exact` (the whole protein and its EOS), on the
stage's first 500 fragments and on validation. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "decoder_input_unshifted", "targets_shifted_again", "embedding_std_sqrt_d", "encoder_not_batch_first")
PAD, BOS, EOS, E, H, N_TRAIN, N_VAL = 0, 1, 2, 32, 64, 3000, 600
BASES = "TCAG"
CODE = dict(zip((a + b + c for a in BASES for b in BASES for c in BASES),
                "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG"))
SENSE = [c for c, aa in CODE.items() if aa != "*"]
AMINO = sorted(set(CODE.values()) - {"*"})
NT = {b: i + 1 for i, b in enumerate("ACGT")}
AA = {a: i + 3 for i, a in enumerate(AMINO)}
SRC_VOCAB, TGT_VOCAB = 5, len(AMINO) + 3


def draw(n: int, g: torch.Generator) -> list:
    out = []
    for _ in range(n):
        k = int(torch.randint(2, 6, (1,), generator=g))
        genes = [SENSE[int(i)] for i in torch.randint(0, len(SENSE), (k,), generator=g)]
        out.append(([NT[b] for b in "".join(genes)], [AA[CODE[c]] for c in genes]))
    return out


def make_batch(items: list, bug: str = "none"):
    s_w, t_w = max(len(s) for s, _ in items), max(len(t) for _, t in items) + 1
    src, tin, tout = (torch.full((len(items), w), PAD) for w in (s_w, t_w, t_w))
    for i, (s, t) in enumerate(items):
        src[i, :len(s)] = torch.tensor(s)
        if bug == "decoder_input_unshifted":
            tin[i, :len(t) + 1] = torch.tensor(t + [EOS])  # BUG decoder_input_unshifted: the decoder input built like the target (protein + EOS) where BOS + protein was meant
        else:
            tin[i, :len(t) + 1] = torch.tensor([BOS] + t)
        tout[i, :len(t) + 1] = torch.tensor(t + [EOS])
    return src, tin, tout


class Translator(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.src_emb = nn.Embedding(SRC_VOCAB, E, padding_idx=PAD)
        self.tgt_emb = nn.Embedding(TGT_VOCAB, E, padding_idx=PAD)
        if bug == "encoder_not_batch_first":
            self.enc = nn.GRU(E, 2 * H)  # BUG encoder_not_batch_first: batch_first=True forgotten; the (B, S, E) embeddings are read as (time, batch, E)
        else:
            self.enc = nn.GRU(E, 2 * H, batch_first=True)
        self.init = nn.Linear(2 * H, 2 * H)
        self.dec = nn.GRU(E, 2 * H, batch_first=True)
        self.wq, self.wk = nn.Linear(2 * H, 2 * H, bias=False), nn.Linear(2 * H, 2 * H)
        self.v = nn.Linear(2 * H, 1, bias=False)
        self.out = nn.Linear(4 * H, TGT_VOCAB)
        if bug == "embedding_std_sqrt_d":
            [nn.init.normal_(emb.weight, std=E ** 0.5) for emb in (self.src_emb, self.tgt_emb)]  # BUG embedding_std_sqrt_d: std=E ** 0.5 (5.7) where E ** -0.5 (0.18) was meant

    def encode(self, src):
        mem, _ = self.enc(self.src_emb(src))                                        # (B, S, 2H)
        real = src != PAD
        mean = (mem * real[..., None]).sum(1) / real.sum(1, keepdim=True)
        return mem, real, torch.tanh(self.init(mean))[None]                         # state (1, B, 2H)

    def attend(self, dec, mem, real):  # dec (B, T, 2H) -> (B, T, 2H) contexts
        s = self.v(torch.tanh(self.wq(dec)[:, :, None] + self.wk(mem)[:, None])).squeeze(-1)   # (B, T, S)
        a = s.masked_fill(~real[:, None, :], float("-inf")).softmax(-1)
        return a @ mem

    def forward(self, src, tin):  # -> (B, T, TGT_VOCAB) logits
        mem, real, state = self.encode(src)
        dec, _ = self.dec(self.tgt_emb(tin), state)
        return self.out(torch.cat([dec, self.attend(dec, mem, real)], -1))

    def greedy(self, src, steps: int):  # -> (B, steps) ids
        mem, real, state = self.encode(src)
        tok, out = torch.full((src.shape[0], 1), BOS, device=src.device), []
        for _ in range(steps):
            dec, state = self.dec(self.tgt_emb(tok), state)
            tok = self.out(torch.cat([dec, self.attend(dec, mem, real)], -1)).argmax(-1)
            out.append(tok)
        return torch.cat(out, 1)


def protein_loss(logits, tout, bug: str = "none"):
    if bug == "targets_shifted_again":
        return F.cross_entropy(logits[:, :-1].reshape(-1, TGT_VOCAB), tout[:, 1:].reshape(-1), ignore_index=PAD)  # BUG targets_shifted_again: the language-model shift (logits[:, :-1] against targets[:, 1:]) applied to targets that are already shifted
    return F.cross_entropy(logits.reshape(-1, TGT_VOCAB), tout.reshape(-1), ignore_index=PAD)


def greedy_metrics(split, model, src, tin, tout) -> dict:
    logits = model(src, tin)
    pred = model.greedy(src, tout.shape[1])
    real = tout != PAD
    right = (pred == tout) | ~real
    out = {f"{split}/loss": F.cross_entropy(logits.reshape(-1, TGT_VOCAB), tout.reshape(-1), ignore_index=PAD).item(),
           f"{split}/acc": ((pred == tout) & real).sum().item() / real.sum().item()}
    if split == "val":
        out["val/exact"] = right.all(1).float().mean().item()
    return out


class CodonsTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "codons")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        items = self.train[:n]
        model = Translator(self.bug)
        bug = self.bug
        train_eval, val_eval = make_batch(items[:500]), make_batch(self.val)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    out.update(greedy_metrics(split, model, *(on_device_of(model, t) for t in b)))
            return out

        return Problem(model=model, train_size=n,
                       get_batch=lambda idx: make_batch([items[i] for i in idx.tolist()], bug),
                       loss=lambda model, b: protein_loss(model(b[0], b[1]), b[2], bug), evaluate=evaluate,
                       chance_loss=math.log(TGT_VOCAB), forward=lambda model, b: model(b[0], b[1]),
                       targets=lambda b: b[2])
