"""Encoder-decoder models with attention: a GRU (default) and a small Transformer.

Both share one interface: `model(batch) -> logits (B, T, target vocab)` with teacher forcing, and
`model.greedy(src, src_len, max_len) -> ids (B, <=max_len)`. `model.use_source = False` turns the
decoder into a target-language LM: no encoder, attention replaced by a learned constant context.
That is a plain attribute, not a parameter, so an LM's weights warm-start the translator.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .data import BOS, EOS, PAD


class Seq2Seq(nn.Module):
    use_source: bool = True

    def forward(self, batch: dict) -> torch.Tensor:
        memory = self.encode(batch["src"], batch["src_len"])
        return self.decode(batch["tgt_in"], memory)[0]

    @torch.no_grad()
    def greedy(self, src: torch.Tensor, src_len: torch.Tensor, max_len: int) -> torch.Tensor:
        memory = self.encode(src, src_len)
        B = src.size(0)
        ys = torch.full((B, 1), BOS, dtype=torch.long, device=src.device)
        done = torch.zeros(B, dtype=torch.bool, device=src.device)
        state = None
        for _ in range(max_len):
            logits, state = self.decode(ys, memory, state, last_only=True)
            nxt = logits[:, -1].argmax(-1)
            nxt = torch.where(done, torch.full_like(nxt, PAD), nxt)
            ys = torch.cat([ys, nxt[:, None]], 1)
            done |= nxt == EOS
            if bool(done.all()):
                break
        return ys[:, 1:]


class GRUSeq2Seq(Seq2Seq):
    """Bidirectional (or not) GRU encoder; GRU decoder with additive or dot ("general") attention.

    Luong-style: the decoder GRU runs over the target words, each output state attends over the
    encoder states (source padding masked out), and [state; context] predicts the next word.
    """

    def __init__(self, src_vocab: int, tgt_vocab: int, emb: int = 64, hidden: int = 128,
                 bidirectional: bool = True, attention: str = "additive", dropout: float = 0.1):
        super().__init__()
        if attention not in ("additive", "dot"):
            raise ValueError(f"attention must be 'additive' or 'dot', got {attention!r}")
        if bidirectional and hidden % 2:
            raise ValueError("a bidirectional encoder needs an even hidden size")
        self.attention, self.hidden = attention, hidden
        self.src_emb = nn.Embedding(src_vocab, emb, padding_idx=PAD)
        self.encoder = nn.GRU(emb, hidden // 2 if bidirectional else hidden, batch_first=True,
                              bidirectional=bidirectional)
        self.bridge = nn.Linear(hidden, hidden)          # encoder summary -> decoder's first state
        self.tgt_emb = nn.Embedding(tgt_vocab, emb, padding_idx=PAD)
        self.decoder = nn.GRU(emb, hidden, batch_first=True)
        if attention == "additive":
            self.attn_query = nn.Linear(hidden, hidden, bias=False)
            self.attn_key = nn.Linear(hidden, hidden)
            self.attn_score = nn.Linear(hidden, 1, bias=False)
        else:
            self.attn_key = nn.Linear(hidden, hidden, bias=False)
        self.lm_context = nn.Parameter(torch.zeros(hidden))  # the context when there is no source
        self.combine = nn.Linear(2 * hidden, hidden)
        self.out = nn.Linear(hidden, tgt_vocab)
        self.drop = nn.Dropout(dropout)

    def encode(self, src, src_len):
        if not self.use_source:
            return None
        x = self.drop(self.src_emb(src))
        packed = pack_padded_sequence(x, src_len.cpu().clamp(min=1), batch_first=True, enforce_sorted=False)
        out, h = self.encoder(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=src.size(1))
        summary = torch.cat(list(h), -1)  # final states of both directions
        mask = torch.arange(src.size(1), device=src.device)[None, :] < src_len[:, None].to(src.device)
        keys = self.attn_key(out)
        return {"values": out, "keys": keys, "mask": mask, "h0": torch.tanh(self.bridge(summary))[None]}

    def decode(self, tgt_in, memory, state=None, last_only=False):
        if state is not None:  # incremental: feed only the newest word
            tgt_in = tgt_in[:, -1:]
        elif memory is not None:
            state = memory["h0"]
        y = self.drop(self.tgt_emb(tgt_in))
        h, state = self.decoder(y, state)  # (B, T, H)
        if memory is None:
            ctx = self.lm_context.expand_as(h)
        else:
            if self.attention == "additive":
                q = self.attn_query(h)[:, :, None, :]                     # (B, T, 1, H)
                scores = self.attn_score(torch.tanh(q + memory["keys"][:, None])).squeeze(-1)  # (B,T,S)
            else:
                scores = h @ memory["keys"].transpose(1, 2) / math.sqrt(self.hidden)
            scores = scores.masked_fill(~memory["mask"][:, None, :], float("-inf"))
            ctx = torch.softmax(scores, -1) @ memory["values"]
        o = torch.tanh(self.combine(torch.cat([h, ctx], -1)))
        return self.out(self.drop(o)), state


class TransformerSeq2Seq(Seq2Seq):
    """A small pre-norm Transformer; in LM mode cross-attention sees one learned memory vector."""

    def __init__(self, src_vocab: int, tgt_vocab: int, emb: int = 128, heads: int = 4, layers: int = 2,
                 ff: int = 256, dropout: float = 0.1, max_positions: int = 256):
        super().__init__()
        self.d, self.max_positions = emb, max_positions
        self.src_emb = nn.Embedding(src_vocab, emb, padding_idx=PAD)
        self.tgt_emb = nn.Embedding(tgt_vocab, emb, padding_idx=PAD)
        self.pos_emb = nn.Embedding(max_positions, emb)
        enc_layer = nn.TransformerEncoderLayer(emb, heads, ff, dropout, batch_first=True, norm_first=True)
        dec_layer = nn.TransformerDecoderLayer(emb, heads, ff, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(enc_layer, layers, norm=nn.LayerNorm(emb), enable_nested_tensor=False)
        self.decoder = nn.TransformerDecoder(dec_layer, layers, norm=nn.LayerNorm(emb))
        self.lm_memory = nn.Parameter(torch.zeros(1, 1, emb))
        self.out = nn.Linear(emb, tgt_vocab)
        self.drop = nn.Dropout(dropout)

    def _embed(self, table, ids):
        pos = torch.arange(ids.size(1), device=ids.device)
        return self.drop(table(ids) * math.sqrt(self.d) + self.pos_emb(pos)[None])

    def encode(self, src, src_len):
        if not self.use_source:
            return None
        pad = torch.arange(src.size(1), device=src.device)[None, :] >= src_len[:, None].to(src.device)
        return {"values": self.encoder(self._embed(self.src_emb, src), src_key_padding_mask=pad), "pad": pad}

    def decode(self, tgt_in, memory, state=None, last_only=False):
        B, T = tgt_in.shape
        causal = torch.triu(torch.ones(T, T, dtype=torch.bool, device=tgt_in.device), 1)
        if memory is None:
            mem, mem_pad = self.lm_memory.expand(B, 1, self.d), None
        else:
            mem, mem_pad = memory["values"], memory["pad"]
        h = self.decoder(self._embed(self.tgt_emb, tgt_in), mem, tgt_mask=causal,
                         memory_key_padding_mask=mem_pad)
        if last_only:
            h = h[:, -1:]
        return self.out(h), None  # no incremental state: greedy re-reads the prefix each step

    @torch.no_grad()
    def greedy(self, src, src_len, max_len):
        return super().greedy(src, src_len, min(max_len, self.max_positions - 1))


def build_model(kind: str, src_vocab: int, tgt_vocab: int, **kw) -> Seq2Seq:
    if kind == "gru":
        keys = ("emb", "hidden", "bidirectional", "attention", "dropout")
        return GRUSeq2Seq(src_vocab, tgt_vocab, **{k: kw[k] for k in keys if k in kw})
    if kind == "transformer":
        keys = ("emb", "heads", "layers", "ff", "dropout", "max_positions")
        return TransformerSeq2Seq(src_vocab, tgt_vocab, **{k: kw[k] for k in keys if k in kw})
    raise ValueError(f"unknown model {kind!r} (expected gru or transformer)")


def sentence_losses(model: Seq2Seq, batch: dict) -> torch.Tensor:
    """Summed cross-entropy per sentence (target padding ignored), shape (B,)."""
    logits = model(batch)
    ce = F.cross_entropy(logits.transpose(1, 2), batch["tgt_out"], ignore_index=PAD, reduction="none")
    return ce.sum(1)
