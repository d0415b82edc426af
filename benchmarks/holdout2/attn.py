"""Held-out-2 family 3: a GRU encoder-decoder with dot-product attention that reverses variable-length sequences.

Source: symbols 1..SYMBOLS then EOS, padded; target: BOS, the symbols reversed, EOS. Teacher forcing
(decoder input tgt[:, :-1], target tgt[:, 1:]), a source padding mask in the attention, ignore_index in the
loss. Sources and decoder inputs have the same padded length. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "tgt_in_unshifted", "mask_wrong_axis", "src_emb_std30")
PAD, SYMBOLS, MIN_LEN, MAX_LEN, IGNORE = 0, 8, 3, 8, -100
EOS, BOS = SYMBOLS + 1, SYMBOLS + 2
VOCAB = SYMBOLS + 3


def reversal_pairs(n: int, seed: int, unshifted: bool = False) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    src = torch.full((n, MAX_LEN + 1), PAD)
    tgt = torch.full((n, MAX_LEN + 2), PAD)
    lengths = torch.randint(MIN_LEN, MAX_LEN + 1, (n,), generator=g)
    for i, length in enumerate(lengths.tolist()):
        seq = torch.randint(1, SYMBOLS + 1, (length,), generator=g)
        src[i, :length], src[i, length] = seq, EOS
        tgt[i, 0], tgt[i, 1:length + 1], tgt[i, length + 1] = BOS, seq.flip(0), EOS
    tgt_in = tgt[:, :-1]
    if unshifted:
        tgt_in = tgt[:, 1:]  # BUG tgt_in_unshifted: the decoder input sliced like the target
    tgt_out = tgt[:, 1:].masked_fill(tgt[:, 1:] == PAD, IGNORE)
    return {"src": src, "src_len": lengths + 1, "tgt_in": tgt_in.clone(), "tgt_out": tgt_out}


class AttnSeq2Seq(nn.Module):
    def __init__(self, bug: str, emb: int = 32, hidden: int = 64):
        super().__init__()
        self.bug = bug
        self.src_emb = nn.Embedding(VOCAB, emb, padding_idx=PAD)
        self.tgt_emb = nn.Embedding(VOCAB, emb, padding_idx=PAD)
        if bug == "src_emb_std30":
            nn.init.normal_(self.src_emb.weight, std=30.0)  # BUG src_emb_std30: "wide init, more diverse inputs"
        self.encoder = nn.GRU(emb, hidden, batch_first=True)
        self.decoder = nn.GRU(emb, hidden, batch_first=True)
        self.out = nn.Linear(2 * hidden, VOCAB)

    def forward(self, src, tgt_in):
        enc, _ = self.encoder(self.src_emb(src))                      # (B, S, H)
        keep = src != PAD                                            # (B, S): real source positions
        last = enc[torch.arange(len(src)), keep.sum(1) - 1]          # the state at EOS starts the decoder
        dec, _ = self.decoder(self.tgt_emb(tgt_in), last.unsqueeze(0).contiguous())  # (B, T, H)
        scores = dec @ enc.transpose(1, 2) / math.sqrt(enc.shape[-1])  # (B, T, S)
        if self.bug == "mask_wrong_axis":
            scores = scores.masked_fill(~keep[:, :, None], float("-inf"))  # BUG mask_wrong_axis: over queries
        else:
            scores = scores.masked_fill(~keep[:, None, :], float("-inf"))  # no attention to source padding
        context = scores.softmax(-1) @ enc                           # (B, T, H)
        return self.out(torch.cat([dec, context], -1))               # (B, T, VOCAB)


class AttnTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none", n_train: int = 3000, n_val: int = 500):
        self.bug = check_bug(bug, BUGS, "attn")
        unshifted = bug == "tgt_in_unshifted"
        self.train = reversal_pairs(n_train, seed=0, unshifted=unshifted)
        self.val = reversal_pairs(n_val, seed=1, unshifted=unshifted)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.train["src"]))
        train = {k: v[:n] for k, v in self.train.items()}
        model = AttnSeq2Seq(self.bug)

        def forward(model, batch):
            return model(batch["src"], batch["tgt_in"])

        def loss(model, batch):
            return F.cross_entropy(forward(model, batch).flatten(0, 1), batch["tgt_out"].flatten(),
                                   ignore_index=IGNORE)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, data in (("train", train), ("val", self.val)):
                    out.update(sequence_metrics(split, forward(model, data), data["tgt_out"], IGNORE))
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: {k: v[idx] for k, v in train.items()},
                       loss=loss, evaluate=evaluate, chance_loss=math.log(VOCAB), forward=forward,
                       targets=lambda batch: batch["tgt_out"], best_loss=0.0)
