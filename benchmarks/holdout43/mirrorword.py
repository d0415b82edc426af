"""Held-out-43 family 3: a GRU encoder-decoder with attention that writes a word followed by its mirror image
(`abc` -> `abccba`), over right-padded tuple batches with lengths (a packed bidirectional encoder).

A source: 2..7 letters of ten (uniform); the target: the word, the word reversed, then EOS (5..15 tokens). Ids (one
vocabulary): PAD 0, BOS 1, EOS 2, the letters 3..12. Torch seed 0 draws 3000 training and 500 validation words.
Tuple batches (src (B, S), src_len (B,), tgt_in (B, T), tgt (B, T)), right-padded, in the order asked for; teacher
forcing (tgt_in is BOS then the target but its last token). Model: embeddings of 32 (shared, padding_idx 0); a
bidirectional GRU encoder (64 each way, batch-first) over `pack_padded_sequence(enforce_sorted=False)`, its outputs
unpacked (B, S, 128); the decoder GRU (128) starts from tanh(Linear([h_forward; h_backward])); each recurrent matrix's
three gate blocks orthogonal (gain 1); attention scores s_t · W e_j with PAD keys -1e9, softmax over the source;
Linear(256, 13) on [state, context]. Cross-entropy with PAD ignored; Adam at 0.003. Metrics: token loss and accuracy
over non-PAD targets (train: the stage's first 400 words) and val/exact. Each bug is one line, marked `# BUG <name>`.
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

BUGS = ("none", "left_padded_for_packing", "mask_inverted", "bidir_state_view", "orthogonal_gain_5",
        "attn_softmax_over_time")
PAD, BOS, EOS, LETTERS, V = 0, 1, 2, 10, 13
MIN_LEN, MAX_LEN, E, H = 2, 7, 32, 64
N_TRAIN, N_VAL = 3000, 500


def draw(n: int, g: torch.Generator) -> list[tuple[list[int], list[int]]]:
    pairs = []
    for _ in range(n):
        w = (torch.randint(0, LETTERS, (int(torch.randint(MIN_LEN, MAX_LEN + 1, (1,), generator=g)),),
                           generator=g) + 3).tolist()
        pairs.append((w, w + w[::-1] + [EOS]))
    return pairs


def make_batch(pairs: list, bug: str = "none") -> tuple:
    s_w, t_w = max(len(s) for s, _ in pairs), max(len(t) for _, t in pairs)
    src, tgt_in, tgt = (torch.full((len(pairs), w), PAD) for w in (s_w, t_w, t_w))
    for i, (s, t) in enumerate(pairs):
        if bug == "left_padded_for_packing":
            src[i, s_w - len(s):] = torch.tensor(s)  # BUG left_padded_for_packing: packing expects right padding
        else:
            src[i, :len(s)] = torch.tensor(s)
        tgt[i, :len(t)], tgt_in[i, :len(t)] = torch.tensor(t), torch.tensor([BOS] + t[:-1])
    return src, torch.tensor([len(s) for s, _ in pairs]), tgt_in, tgt


def orthogonal_gates(rnn: nn.GRU, gain: float) -> None:
    for name, p in rnn.named_parameters():
        if name.startswith("weight_hh"):
            for block in p.data.chunk(3, 0):
                nn.init.orthogonal_(block, gain=gain)


class MirrorWord(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.emb = nn.Embedding(V, E, padding_idx=PAD)
        self.encoder = nn.GRU(E, H, batch_first=True, bidirectional=True)
        self.decoder = nn.GRU(E, 2 * H, batch_first=True)
        self.bridge, self.attn, self.out = nn.Linear(2 * H, 2 * H), nn.Linear(2 * H, 2 * H, bias=False), \
            nn.Linear(4 * H, V)
        if bug == "orthogonal_gain_5":
            [orthogonal_gates(rnn, gain=5) for rnn in (self.encoder, self.decoder)]  # BUG orthogonal_gain_5: tanh's gain is 5/3
        else:
            [orthogonal_gates(rnn, gain=1) for rnn in (self.encoder, self.decoder)]

    def forward(self, src, src_len, tgt_in):  # -> (B, T, V) logits
        b = src.shape[0]
        packed = pack_padded_sequence(self.emb(src), src_len.cpu(), batch_first=True, enforce_sorted=False)
        enc, h = self.encoder(packed)
        enc, _ = pad_packed_sequence(enc, batch_first=True, total_length=src.shape[1])  # (B, S, 2H)
        if self.bug == "bidir_state_view":
            h = h.view(b, -1)  # BUG bidir_state_view: (2, B, H) viewed as (B, 2H) mixes the batch's examples
        else:
            h = torch.cat([h[0], h[1]], -1)
        h0 = torch.tanh(self.bridge(h))[None]
        dec, _ = self.decoder(self.emb(tgt_in), h0)  # (B, T, 2H)
        pad = src == PAD
        if self.bug == "mask_inverted":
            scores = (dec @ self.attn(enc).transpose(1, 2)).masked_fill((~pad)[:, None, :], -1e9)  # BUG mask_inverted: blocks the letters, keeps the padding
        else:
            scores = (dec @ self.attn(enc).transpose(1, 2)).masked_fill(pad[:, None, :], -1e9)
        if self.bug == "attn_softmax_over_time":
            weights = scores.softmax(1)  # BUG attn_softmax_over_time: normalised over the decoder's steps, not the source
        else:
            weights = scores.softmax(-1)
        context = weights @ enc
        return self.out(torch.cat([dec, context], -1))


class MirrorWordTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "mirrorword")
        g = torch.Generator().manual_seed(0)
        self.train, self.val = draw(N_TRAIN, g), draw(N_VAL, g)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        pairs = self.train[:n]
        model = MirrorWord(self.bug)
        train_eval, val_eval = make_batch(pairs[:400], self.bug), make_batch(self.val, self.bug)

        def run(model, b):
            return model(b[0], b[1], b[2])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, b in (("train", train_eval), ("val", val_eval)):
                    b = tuple(on_device_of(model, t) for t in b)
                    out.update(sequence_metrics(split, run(model, b), b[3], PAD))
            return out

        def loss(model, b):
            return F.cross_entropy(run(model, b).flatten(0, 1), b[3].flatten(), ignore_index=PAD)

        return Problem(model=model, train_size=n,
                       get_batch=lambda idx: make_batch([pairs[i] for i in idx.tolist()], self.bug),
                       loss=loss, evaluate=evaluate, chance_loss=math.log(V), forward=run, targets=lambda b: b[3])
