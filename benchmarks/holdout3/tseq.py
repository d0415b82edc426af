"""Held-out-3 family 4: an nn.Transformer encoder-decoder that adds 1 (mod 10) to every digit of a sequence.

Sources are 3 to 10 digits, padded; targets are BOS, the digits + 1, EOS, padded. The model gets
src/tgt key-padding masks and a causal tgt_mask from nn.Transformer.generate_square_subsequent_mask;
training is teacher-forced, validation accuracy is by greedy decoding (what a user would see). The task is
deterministic, so Problem.best_loss = 0. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "tgt_mask_transposed", "tgt_mask_diagonal", "memory_detached")
PAD, BOS, EOS, DIGIT0 = 0, 1, 2, 3
VOCAB, MIN_LEN, MAX_LEN = DIGIT0 + 10, 3, 8
IGNORE = -100


def plus_one(n: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    src = torch.full((n, MAX_LEN), PAD)
    tgt = torch.full((n, MAX_LEN + 2), PAD)
    for i, length in enumerate(torch.randint(MIN_LEN, MAX_LEN + 1, (n,), generator=g).tolist()):
        digits = torch.randint(0, 10, (length,), generator=g)
        src[i, :length] = DIGIT0 + digits
        tgt[i, :length + 2] = torch.cat([torch.tensor([BOS]), DIGIT0 + (digits + 1) % 10, torch.tensor([EOS])])
    out = tgt[:, 1:].clone()
    out[out == PAD] = IGNORE
    return {"src": src, "tgt_in": tgt[:, :-1], "tgt_out": out}


class PlusOneTransformer(nn.Module):
    def __init__(self, bug: str, nested: bool = True, dim: int = 64):
        super().__init__()
        self.bug = bug
        self.emb = nn.Embedding(VOCAB, dim, padding_idx=PAD)
        self.pos = nn.Parameter(torch.randn(MAX_LEN + 1, dim) * 0.02)
        self.transformer = nn.Transformer(dim, nhead=4, num_encoder_layers=2, num_decoder_layers=2,
                                          dim_feedforward=128, dropout=0.0, batch_first=True)
        # PyTorch's default: in eval mode without gradients the encoder packs padded sources into nested
        # tensors (its fast path). `task.nested=false` turns that off, for runs that must avoid it.
        self.transformer.encoder.use_nested_tensor = nested
        self.head = nn.Linear(dim, VOCAB)

    def embed(self, tokens):
        return self.emb(tokens) + self.pos[:tokens.shape[1]]

    def forward(self, src, tgt_in):
        T = tgt_in.shape[1]
        if self.bug == "tgt_mask_transposed":
            tgt_mask = nn.Transformer.generate_square_subsequent_mask(T).T  # BUG tgt_mask_transposed: blocks the past
        elif self.bug == "tgt_mask_diagonal":
            tgt_mask = torch.triu(torch.full((T, T), float("-inf")), diagonal=0)  # BUG tgt_mask_diagonal: no self
        else:
            tgt_mask = nn.Transformer.generate_square_subsequent_mask(T)
        src_pad, tgt_pad = src == PAD, tgt_in == PAD
        memory = self.transformer.encoder(self.embed(src), src_key_padding_mask=src_pad)
        if self.bug == "memory_detached":
            memory = memory.detach()  # BUG memory_detached: "the encoder output is just a lookup for the decoder"
        out = self.transformer.decoder(self.embed(tgt_in), memory, tgt_mask=tgt_mask,
                                       tgt_key_padding_mask=tgt_pad, memory_key_padding_mask=src_pad)
        return self.head(out)  # (B, T, VOCAB)


def greedy(model, src, steps: int) -> torch.Tensor:
    """Decode `steps` tokens after BOS, each from the model's own previous choices."""
    tokens = torch.full((len(src), 1), BOS)
    for _ in range(steps):
        tokens = torch.cat([tokens, model(src, tokens)[:, -1].argmax(-1, keepdim=True)], 1)
    return tokens[:, 1:]


class TseqTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none", nested: bool = True, n_train: int = 3000, n_val: int = 300):
        self.bug = check_bug(bug, BUGS, "tseq")
        self.nested = nested
        self.train = plus_one(n_train, seed=0)
        self.val = plus_one(n_val, seed=1)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.train["src"]))
        train = {k: v[:n] for k, v in self.train.items()}
        model = PlusOneTransformer(self.bug, self.nested)

        def forward(model, batch):
            return model(batch["src"], batch["tgt_in"])

        def loss(model, batch):
            return F.cross_entropy(forward(model, batch).flatten(0, 1), batch["tgt_out"].flatten(), ignore_index=IGNORE)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, data in (("train", train), ("val", self.val)):
                    logits = forward(model, data)
                    real = data["tgt_out"] != IGNORE
                    out[f"{split}/loss"] = F.cross_entropy(logits.flatten(0, 1), data["tgt_out"].flatten(),
                                                           ignore_index=IGNORE).item()
                    if split == "train":  # teacher-forced
                        right = logits.argmax(-1) == data["tgt_out"]
                    else:  # greedy decoding, as the model would be used
                        right = greedy(model, data["src"], data["tgt_out"].shape[1]) == data["tgt_out"]
                    out[f"{split}/acc"] = (right & real).sum().item() / real.sum().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: {k: v[idx] for k, v in train.items()},
                       loss=loss, evaluate=evaluate, chance_loss=math.log(VOCAB), forward=forward,
                       targets=lambda batch: batch["tgt_out"], best_loss=0.0)
