"""Held-out-50 family 3: a GRU encoder-decoder (no attention) writing the reverse complement of a DNA read, over dict
batches, scored by greedy decoding.

A read: 4..12 bases of A, C, G, T (uniform); the target: its reverse complement (reversed, A<->T, C<->G), then EOS.
Ids (one vocabulary): PAD 0, BOS 1, EOS 2, A 3, C 4, G 5, T 6. Torch seed 0 draws 3000 training and 600 validation
reads. Dict batches {src (B, S), src_len (B,), tgt_in (B, T), tgt_out (B, T)}, right-padded; teacher forcing: with
seq = BOS + target + EOS, tgt_in = seq[:-1] and tgt_out = seq[1:]. Model: embeddings of 32 (shared, padding_idx 0); a
GRU encoder (128) over the padded source, its output read at each read's last base (src_len - 1); a GRU decoder (128)
from that state over tgt_in; Linear(128, 7). Loss: cross-entropy over non-PAD targets; Adam at 0.003. Metrics:
teacher-forced token loss, and from greedy decoding (up to 13 steps from BOS) the token accuracy over the target's
positions (EOS included) and `exact` (the whole output right), on the stage's first 500 reads and on validation. Each
bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "decoder_input_unshifted", "nll_on_logits", "gru_bias_5", "encoder_not_batch_first")
PAD, BOS, EOS, V, E, H = 0, 1, 2, 7, 32, 128
MIN_LEN, MAX_LEN, N_TRAIN, N_VAL = 3, 9, 3000, 600
COMPLEMENT = {3: 6, 4: 5, 5: 4, 6: 3}


def draw(n: int, g: torch.Generator) -> list[list[int]]:
    return [(torch.randint(3, 7, (int(torch.randint(MIN_LEN, MAX_LEN + 1, (1,), generator=g)),), generator=g)).tolist()
            for _ in range(n)]


def make_batch(reads: list, bug: str = "none") -> dict:
    b = len(reads)
    width = max(len(r) for r in reads)
    src, tgt_in, tgt_out = torch.full((b, width), PAD), torch.full((b, width + 1), PAD), torch.full((b, width + 1), PAD)
    for i, r in enumerate(reads):
        seq = torch.tensor([BOS] + [COMPLEMENT[x] for x in reversed(r)] + [EOS])
        src[i, :len(r)] = torch.tensor(r)
        if bug == "decoder_input_unshifted":
            tgt_in[i, :len(r) + 1] = seq[1:]  # BUG decoder_input_unshifted: sliced like the targets, where seq[:-1] was meant
        else:
            tgt_in[i, :len(r) + 1] = seq[:-1]
        tgt_out[i, :len(r) + 1] = seq[1:]
    return {"src": src, "src_len": torch.tensor([len(r) for r in reads]), "tgt_in": tgt_in, "tgt_out": tgt_out}


class ReverseComplement(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.emb = nn.Embedding(V, E, padding_idx=PAD)
        if bug == "encoder_not_batch_first":
            self.enc = nn.GRU(E, H)  # BUG encoder_not_batch_first: batch_first=True forgotten, fed (B, S, E)
        else:
            self.enc = nn.GRU(E, H, batch_first=True)
        self.dec = nn.GRU(E, H, batch_first=True)
        if bug == "gru_bias_5":
            [nn.init.constant_(p, 5.0) for name, p in self.named_parameters() if "bias" in name]  # BUG gru_bias_5: the LSTM forget-gate bias habit on every GRU bias
        self.out = nn.Linear(H, V)

    def encode(self, src, src_len):  # -> (1, B, H)
        out, _ = self.enc(self.emb(src))
        return out[torch.arange(src.shape[0], device=src.device), src_len - 1].unsqueeze(0)

    def forward(self, src, src_len, tgt_in):  # -> (B, T, V) logits
        out, _ = self.dec(self.emb(tgt_in), self.encode(src, src_len))
        return self.out(out)

    def greedy(self, src, src_len, steps: int):  # -> (B, steps) ids
        h = self.encode(src, src_len)
        token = torch.full((src.shape[0], 1), BOS, device=src.device)
        outs = []
        for _ in range(steps):
            out, h = self.dec(self.emb(token), h)
            token = self.out(out).argmax(-1)
            outs.append(token)
        return torch.cat(outs, 1)


def token_loss(logits, tgt_out, bug: str = "none"):
    if bug == "nll_on_logits":
        return F.nll_loss(logits.flatten(0, 1), tgt_out.flatten(), ignore_index=PAD)  # BUG nll_on_logits: NLLLoss on raw logits, no log_softmax
    return F.cross_entropy(logits.flatten(0, 1), tgt_out.flatten(), ignore_index=PAD)


class DnaReadsTask:
    metrics = ("train/loss", "train/acc", "train/exact", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "dnareads")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        reads = self.train[:n]
        model = ReverseComplement(self.bug)
        bug = self.bug
        train_eval, val_eval = make_batch(reads[:500], bug), make_batch(self.val, bug)

        def run(model, b):
            return model(b["src"], b["src_len"], b["tgt_in"])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    b = on_device_of(model, b)
                    tgt = b["tgt_out"]
                    pred = model.greedy(b["src"], b["src_len"], MAX_LEN + 1)[:, :tgt.shape[1]]
                    real = tgt != PAD
                    right = (pred == tgt) | ~real
                    out[f"{split}/loss"] = token_loss(run(model, b), tgt).item()
                    out[f"{split}/acc"] = ((pred == tgt) & real).sum().item() / real.sum().item()
                    out[f"{split}/exact"] = right.all(1).float().mean().item()
            return out

        return Problem(model=model, train_size=n,
                       get_batch=lambda idx: make_batch([reads[i] for i in idx.tolist()], bug),
                       loss=lambda model, b: token_loss(run(model, b), b["tgt_out"], bug), evaluate=evaluate,
                       chance_loss=math.log(5), forward=run, targets=lambda b: b["tgt_out"])
