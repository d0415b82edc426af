"""Addition problems as token ids: generated per operand length, with disjoint splits.

A problem "a+b" with both operands of exactly `digits` digits (1 digit: 0..9). Which split a pair
belongs to is a fixed function of the pair (a hash), so train, validation and test never share a
problem, whatever the seed or the number of examples asked for.
Every level is encoded at the widths of the hardest level (`max_digits`): the model's shapes, and so
its weights, are the same at every level, and batches of different levels can be concatenated.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

PAD, BOS, EOS, PLUS = 0, 1, 2, 3
DIGIT0 = 4                      # tokens 4..13 are the digits 0..9
VOCAB = 14
SPLITS = ("train", "valid", "test")


def split_of(a: int, b: int) -> str:
    """The split a pair belongs to: 80% train, 10% valid, 10% test, by a hash of the pair."""
    h = ((a % 1000003) * 7919 + (b % 1000033) * 104729 + 12345) % 10007 % 10
    return "valid" if h == 0 else "test" if h == 1 else "train"


@dataclass
class Level:
    """One operand length's examples of one split: source, decoder input and target, as tensors."""

    src: torch.Tensor      # N x (2*max_digits+1): "a+b", left-padded so the encoder ends on the last digit
    tgt_in: torch.Tensor   # N x (max_digits+2): BOS, the sum's digits, padding
    tgt_out: torch.Tensor  # N x (max_digits+2): the sum's digits, EOS, padding (ignored by the loss)

    def __len__(self) -> int:
        return len(self.src)

    def take(self, idx) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.src[idx], self.tgt_in[idx], self.tgt_out[idx]


def digits_of(n: int) -> list[int]:
    return [DIGIT0 + int(c) for c in str(n)]


def encode(pairs: list[tuple[int, int]], max_digits: int) -> Level:
    width_src, width_tgt = 2 * max_digits + 1, max_digits + 2
    src = torch.full((len(pairs), width_src), PAD, dtype=torch.long)
    tgt_in = torch.full((len(pairs), width_tgt), PAD, dtype=torch.long)
    tgt_out = torch.full((len(pairs), width_tgt), PAD, dtype=torch.long)
    for i, (a, b) in enumerate(pairs):
        s = digits_of(a) + [PLUS] + digits_of(b)
        src[i, width_src - len(s):] = torch.tensor(s)
        t = digits_of(a + b)
        tgt_in[i, :len(t) + 1] = torch.tensor([BOS] + t)
        tgt_out[i, :len(t) + 1] = torch.tensor(t + [EOS])
    return Level(src, tgt_in, tgt_out)


def decode(tokens) -> str:
    """Token ids -> text, up to EOS (for reading batches and outputs)."""
    out = []
    for t in tokens.tolist():
        if t == EOS:
            break
        out.append("+" if t == PLUS else str(t - DIGIT0) if t >= DIGIT0 else "")
    return "".join(out)


def generate(digits: int, sizes: dict[str, int], max_digits: int, seed: int) -> dict[str, Level]:
    """At most sizes[split] pairs of `digits`-digit operands per split (every pair when there are fewer)."""
    lo, hi = (0, 10) if digits == 1 else (10 ** (digits - 1), 10 ** digits)
    span = hi - lo
    found: dict[str, list] = {s: [] for s in SPLITS}
    if span * span <= 4 * sum(sizes.values()):  # few enough to list them all, in a seeded order
        order = torch.randperm(span * span, generator=torch.Generator().manual_seed(seed)).tolist()
        for k in order:
            a, b = lo + k // span, lo + k % span
            found[split_of(a, b)].append((a, b))
    else:
        g = torch.Generator().manual_seed(seed)
        while any(len(found[s]) < sizes[s] for s in SPLITS):
            ab = torch.randint(lo, hi, (4096, 2), generator=g).tolist()
            for a, b in ab:
                part = found[split_of(a, b)]
                if len(part) < sizes[split_of(a, b)]:
                    part.append((a, b))
    return {s: encode(found[s][:sizes[s]], max_digits) for s in SPLITS}
