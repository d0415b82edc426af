"""Held-out-14 family 4: an LSTM language model trained with truncated backpropagation through time (TBPTT).

The source: a second-order Markov chain over 12 tokens (each pair of previous tokens has its own peaked next-token
distribution, seeded), whose entropy rate is `Problem.best_loss` (nats/token). One long training stream is cut
into rows of 96 consecutive tokens (each row's last target is the next row's first token); each row is read in 8
consecutive chunks of 12 tokens. The task keeps, for every row, the next chunk to read and the LSTM state left by
the chunk before, detached (a row starts from a zero state at its first chunk): the state is carried from batch to
batch, the gradient stops at the chunk's start. A stage starts with fresh states (its `build`). Validation: 100
rows of a second stream, read chunk by chunk from a zero state. Model: embedding 12 -> 32, LSTM 32 -> 64, linear
64 -> 12; cross-entropy per token. Dict batches {x, y, h0, c0, rows} (x, y (B, 12); the states (B, 64)).
Goal: validation per-token loss, close to the entropy rate.
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

BUGS = ("none", "loss_over_time_axis", "decoder_made_in_forward", "embedding_std_100")
VOCAB, CHUNK, CHUNKS, EMBED, HIDDEN = 12, 12, 8, 32, 64
ROW = CHUNK * CHUNKS
N_ROWS, N_VAL_ROWS = 1000, 100


def chain() -> tuple[torch.Tensor, float]:
    """p[a * VOCAB + b] = P(next | previous two a, b), and the chain's entropy rate in nats."""
    g = torch.Generator().manual_seed(3)
    gamma = -torch.log(torch.rand(VOCAB * VOCAB, VOCAB, generator=g)) ** 4  # heavy-tailed -> peaked rows
    p = (gamma / gamma.sum(1, keepdim=True)).double()
    pair = torch.zeros(VOCAB * VOCAB, VOCAB * VOCAB, dtype=torch.double)  # (a, b) -> (b, c)
    for ab in range(VOCAB * VOCAB):
        b = ab % VOCAB
        pair[ab, b * VOCAB:(b + 1) * VOCAB] = p[ab]
    pi = torch.full((VOCAB * VOCAB,), 1.0 / VOCAB ** 2, dtype=torch.double)
    for _ in range(2000):
        pi = pi @ pair
    rate = -(pi[:, None] * p * torch.log(p.clamp_min(1e-300))).sum().item()
    return p.float(), rate


def stream(n: int, seed: int) -> torch.Tensor:
    p, _ = chain()
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(n, generator=g)
    cum = p.cumsum(1)
    out = torch.randint(VOCAB, (n,), generator=g)
    for t in range(2, n):
        row = cum[out[t - 2] * VOCAB + out[t - 1]]
        out[t] = min(int(torch.searchsorted(row, u[t])), VOCAB - 1)
    return out


def rows(tokens: torch.Tensor, n: int) -> torch.Tensor:
    """n rows of ROW + 1 consecutive tokens, row r starting where row r - 1 ends."""
    return torch.stack([tokens[r * ROW:(r + 1) * ROW + 1] for r in range(n)])


class LSTMLM(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.embed = nn.Embedding(VOCAB, EMBED)
        if bug == "embedding_std_100":
            nn.init.normal_(self.embed.weight, std=100)  # BUG embedding_std_100: meant 1 / 100
        self.lstm = nn.LSTM(EMBED, HIDDEN, batch_first=True)
        self.out = nn.Linear(HIDDEN, VOCAB)

    def forward(self, x, h0, c0):  # (B, T), (B, H), (B, H) -> (B, T, VOCAB), ((B, H), (B, H))
        out, (h, c) = self.lstm(self.embed(x), (h0.unsqueeze(0).contiguous(), c0.unsqueeze(0).contiguous()))
        if self.bug == "decoder_made_in_forward":
            return nn.Linear(HIDDEN, VOCAB).to(x.device)(out), (h[0], c[0])  # BUG decoder_made_in_forward
        return self.out(out), (h[0], c[0])


def token_loss(logits, y, bug: str):
    if bug == "loss_over_time_axis":
        return F.cross_entropy(logits, y)  # BUG loss_over_time_axis: (B, T, V) read as (B, classes, d1); T == V
    return F.cross_entropy(logits.transpose(1, 2), y)


def read_rows(model, data: torch.Tensor) -> dict:
    """Per-token loss and accuracy of whole rows, read chunk by chunk with the state carried from a zero state."""
    n = len(data)
    h = c = torch.zeros(n, HIDDEN, device=data.device)
    loss, right = 0.0, 0
    for k in range(CHUNKS):
        seq = data[:, k * CHUNK:(k + 1) * CHUNK + 1]
        logits, (h, c) = model(seq[:, :-1], h, c)
        loss += F.cross_entropy(logits.transpose(1, 2), seq[:, 1:], reduction="sum").item()
        right += (logits.argmax(-1) == seq[:, 1:]).sum().item()
    return {"loss": loss / (n * ROW), "acc": right / (n * ROW)}


class BPTTTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/excess")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "bptt")
        self.train = rows(stream(N_ROWS * ROW + 1, seed=0), N_ROWS)
        self.val = rows(stream(N_VAL_ROWS * ROW + 1, seed=1), N_VAL_ROWS)
        self.rate = chain()[1]

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_ROWS)
        data = self.train[:n]
        model = LSTMLM(self.bug)
        # the carried state: each row's next chunk and the (detached) LSTM state the chunk before left
        cursor = torch.zeros(n, dtype=torch.long)
        h_state, c_state = torch.zeros(n, HIDDEN), torch.zeros(n, HIDDEN)

        def get_batch(idx):
            k = cursor[idx]
            seq = data[idx[:, None], (k * CHUNK)[:, None] + torch.arange(CHUNK + 1)]
            fresh = (k == 0)[:, None]
            cursor[idx] = (k + 1) % CHUNKS
            return {"x": seq[:, :-1], "y": seq[:, 1:], "h0": h_state[idx].masked_fill(fresh, 0.0),
                    "c0": c_state[idx].masked_fill(fresh, 0.0), "rows": idx}

        def loss(model, b):
            logits, (h, c) = model(b["x"], b["h0"], b["c0"])
            rows_read = b["rows"].cpu()
            h_state[rows_read], c_state[rows_read] = h.detach().cpu(), c.detach().cpu()
            return token_loss(logits, b["y"], self.bug)

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, d in (("train", data[:200]), ("val", self.val)):
                    out.update({f"{split}/{k}": v for k, v in read_rows(model, d).items()})
            out["val/excess"] = out["val/loss"] - self.rate
            return out

        return Problem(model=model, train_size=n, get_batch=get_batch, loss=loss, evaluate=evaluate,
                       chance_loss=math.log(VOCAB), best_loss=self.rate,
                       forward=lambda model, b: model(b["x"], b["h0"], b["c0"])[0], targets=lambda b: b["y"])
