"""Held-out-38 family 3: an LSTM encoder-decoder with additive (Bahdanau) attention that reverses each word of a phrase
in place (`cab de gfh` -> `bac ed hfg`), over right-padded variable-length dict batches.

A phrase: 1..3 words of 2..5 letters of `abcdefgh`, separated by single spaces; the target: every word reversed, the
words in their order, then EOS. One character vocabulary for both sides, built from the training phrases: PAD 0, BOS
1, EOS 2, then the characters (space and letters) by decreasing frequency in the training phrases (ties by the
character), ids 3..11. Torch seed 0 draws 3000 training and 500 validation phrases. Dict batches {src (B, S), src_len
(B,), tgt_in (B, T), tgt (B, T)}, right-padded, in the order asked for; teacher forcing (tgt_in is BOS then the target
but its last token). Model: embeddings of 32 (padding_idx 0); a bidirectional LSTM encoder (64 per direction) over the
packed source (enforce_sorted=False); the decoder LSTM (128) starts from h = tanh(W [h_fwd; h_bwd]) and c = W' [h_fwd;
h_bwd] of the encoder's final states; additive attention v·tanh(W_s s_t + W_e e_j) of each decoder state over the
encoder outputs, PAD keys -inf, softmax over the source positions; Linear(256, 12) on [state, context]. Cross-entropy
with PAD ignored; Adam at 0.003. Metrics: token loss and accuracy over non-PAD targets (train: the stage's first 400
phrases) and val/exact. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, sequence_metrics, subset_size
from orchestrator.task import Problem

BUGS = ("none", "source_truncated", "label_smoothing_0.9", "lstm_biases_5", "bidir_state_view",
        "tgt_in_shifted_left")
PAD, BOS, EOS = 0, 1, 2
LETTERS = "abcdefgh"
V, E, H = 3 + 1 + len(LETTERS), 32, 64
MAX_SRC = 24  # encoder positions kept (the longest phrase has 17 characters)
N_TRAIN, N_VAL = 3000, 500


def draw(n: int, g: torch.Generator) -> list[tuple[str, str]]:
    pairs = []
    for _ in range(n):
        words = ["".join(LETTERS[int(c)] for c in torch.randint(0, len(LETTERS), (int(torch.randint(2, 6, (1,),
                 generator=g)),), generator=g)) for _ in range(int(torch.randint(1, 4, (1,), generator=g)))]
        pairs.append((" ".join(words), " ".join(w[::-1] for w in words)))
    return pairs


def build_vocab(pairs: list[tuple[str, str]]) -> dict[str, int]:
    counts = Counter(c for src, _ in pairs for c in src)
    return {c: 3 + i for i, (c, _) in enumerate(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))}


def encode(pairs: list[tuple[str, str]], vocab: dict[str, int], max_src: int) -> list[tuple[list[int], list[int]]]:
    return [([vocab[c] for c in s[:max_src]], [vocab[c] for c in t] + [EOS]) for s, t in pairs]


def make_batch(pairs: list, bug: str = "none") -> dict:
    s_w, t_w = max(len(s) for s, _ in pairs), max(len(t) for _, t in pairs)
    src, tgt_in, tgt = (torch.full((len(pairs), w), PAD) for w in (s_w, t_w, t_w))
    for i, (s, t) in enumerate(pairs):
        src[i, :len(s)] = torch.tensor(s)
        tgt[i, :len(t)] = torch.tensor(t)
        if bug == "tgt_in_shifted_left":
            tgt_in[i, :len(t)] = torch.tensor(t[1:] + [PAD])  # BUG tgt_in_shifted_left: reads the next token
        else:
            tgt_in[i, :len(t)] = torch.tensor([BOS] + t[:-1])
    return {"src": src, "src_len": torch.tensor([len(s) for s, _ in pairs]), "tgt_in": tgt_in, "tgt": tgt}


class WordFlipper(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.src_emb, self.tgt_emb = nn.Embedding(V, E, padding_idx=PAD), nn.Embedding(V, E, padding_idx=PAD)
        self.encoder = nn.LSTM(E, H, batch_first=True, bidirectional=True)
        if bug == "lstm_biases_5":
            [nn.init.constant_(p, 5.0) for n, p in self.encoder.named_parameters() if "bias" in n]  # BUG lstm_biases_5
        self.bridge = nn.Linear(2 * H, 2 * 2 * H)
        self.decoder = nn.LSTM(E, 2 * H, batch_first=True)
        self.w_s, self.w_e = nn.Linear(2 * H, 2 * H, bias=False), nn.Linear(2 * H, 2 * H)
        self.v = nn.Linear(2 * H, 1, bias=False)
        self.out = nn.Linear(4 * H, V)

    def forward(self, src, src_len, tgt_in):  # -> (B, T, V) logits
        b, s = src.shape
        packed = pack_padded_sequence(self.src_emb(src), src_len.cpu(), batch_first=True, enforce_sorted=False)
        enc, (h_n, _) = self.encoder(packed)
        enc, _ = pad_packed_sequence(enc, batch_first=True, total_length=s)  # (B, S, 2H)
        if self.bug == "bidir_state_view":
            final = h_n.view(b, 2 * H)  # BUG bidir_state_view: (2, B, H) viewed as (B, 2H) mixes the batch's examples
        else:
            final = torch.cat([h_n[0], h_n[1]], -1)
        h0, c0 = self.bridge(final).chunk(2, -1)
        dec, _ = self.decoder(self.tgt_emb(tgt_in), (torch.tanh(h0)[None].contiguous(), c0[None].contiguous()))
        scores = self.v(torch.tanh(self.w_s(dec)[:, :, None] + self.w_e(enc)[:, None])).squeeze(-1)  # (B, T, S)
        pad = (src == PAD)[:, None, :]
        attn = scores.masked_fill(pad, float("-inf")).softmax(-1)
        return self.out(torch.cat([dec, attn @ enc], -1))


class WordFlipTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/exact")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "wordflip")
        g = torch.Generator().manual_seed(0)
        train, val = draw(N_TRAIN, g), draw(N_VAL, g)
        vocab = build_vocab(train)
        max_src = 10 if self.bug == "source_truncated" else MAX_SRC  # BUG source_truncated: a limit from another config
        self.train, self.val = encode(train, vocab, max_src), encode(val, vocab, max_src)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        pairs = self.train[:n]
        model = WordFlipper(self.bug)
        train_eval, val_eval = make_batch(pairs[:400], self.bug), make_batch(self.val, self.bug)

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
            logits = run(model, b).flatten(0, 1)
            if self.bug == "label_smoothing_0.9":
                return F.cross_entropy(logits, b["tgt"].flatten(), ignore_index=PAD, label_smoothing=0.9)  # BUG label_smoothing_0.9  # noqa: E501
            return F.cross_entropy(logits, b["tgt"].flatten(), ignore_index=PAD)

        def get_batch(idx):
            return make_batch([pairs[i] for i in idx.tolist()], self.bug)

        return Problem(model=model, train_size=n, get_batch=get_batch, loss=loss, evaluate=evaluate,
                       chance_loss=math.log(V), forward=run, targets=lambda b: b["tgt"])
