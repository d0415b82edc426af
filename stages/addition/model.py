"""The project's own seq2seq model for addition: a GRU encoder and a GRU decoder, no attention.

No attention on purpose: as in "learning to execute", the encoder must carry both numbers in one
state, which is what makes long operands hard to learn from scratch.
"""
from __future__ import annotations

import torch
from torch import nn

from .data import BOS, VOCAB


class AdditionSeq2Seq(nn.Module):
    def __init__(self, emb: int = 32, hidden: int = 128, layers: int = 1):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, emb)
        self.encoder = nn.GRU(emb, hidden, num_layers=layers, batch_first=True)
        self.decoder = nn.GRU(emb, hidden, num_layers=layers, batch_first=True)
        self.out = nn.Linear(hidden, VOCAB)

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits, batch x target length x vocabulary."""
        _, state = self.encoder(self.embed(src))
        out, _ = self.decoder(self.embed(tgt_in), state)
        return self.out(out)

    @torch.no_grad()
    def greedy(self, src: torch.Tensor, length: int) -> torch.Tensor:
        """The model's own answer, one token at a time: batch x length token ids."""
        _, state = self.encoder(self.embed(src))
        token = torch.full((len(src), 1), BOS, dtype=torch.long, device=src.device)
        out = []
        for _ in range(length):
            step, state = self.decoder(self.embed(token), state)
            token = self.out(step).argmax(-1)
            out.append(token)
        return torch.cat(out, dim=1)
