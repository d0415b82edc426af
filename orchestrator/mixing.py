"""Replay: a stage with `mix: m` trains on batches of which a share m comes from its earlier stages.

Relaxing one simplification at a time can make a network forget the easier problems (the "mixed"
curriculum of "learning to execute" keeps showing them). The replayed problems are the stage's
predecessors, walking back through the ladder as long as the predecessor has a `mix` of its own: a run
of mixed stages replays everything from the stage where mixing began (that stage included), one
problem per distinct knob setting, drawn uniformly. A ladder that sets `mix` on digits_2, digits_4 and
digits_6 (not digits_1) has digits_6 replay digits_4, digits_2 and digits_1, and never the memorisation
stages before them. Inserted stages take the `mix` of the stage they help.

How a batch is mixed: its indices decide everything (a hash of them, with the stage's seed), so the
mixed batches are the same after a resume, and the share holds on average over batches:
- per example, when the task's batches are tuples, lists or dicts of tensors of the same width at every
  level (e.g. padded to the hardest level): round(m x batch) of the examples, give or take one, come
  from the replayed problems, and the pieces are concatenated along the batch dimension;
- per batch otherwise (e.g. padding that depends on the level): a share m of the batches is a replayed
  problem's batch of the same size.
The stage's own loss is used for every batch, so replayed problems must be batches the same loss takes
(knobs that change the data, not the model's inputs or outputs). Diagnostics see the unmixed problem.
"""
from __future__ import annotations

import dataclasses
import zlib
from typing import Any, Sequence

import torch

from .ladder import Ladder, Stage
from .task import Problem, same_sequence


def replay_stages(ladder: Ladder, stage: Stage) -> list[Stage]:
    """The stages whose problems `stage` replays: predecessors back to where mixing began."""
    out, seen, todo = [], [], list(stage.after)
    while todo:
        s = ladder[todo.pop(0)]
        if s.knobs != stage.knobs and s.knobs not in seen:
            seen.append(s.knobs)
            out.append(s)
        if s.mix:  # mixed itself: its own replay sources are replayed too
            todo.extend(p for p in s.after if p not in todo)
    return out


def with_replay(problem: Problem, sources: Sequence[Problem], share: float, seed: int) -> Problem:
    """`problem` whose training batches carry a share `share` of examples (or batches) from `sources`."""
    if share <= 0 or not sources:
        return problem
    own = problem.get_batch

    def get_batch(idx: torch.Tensor) -> Any:
        idx = torch.as_tensor(idx)
        key = zlib.crc32(idx.cpu().numpy().tobytes(), seed)  # the indices decide: same batch, same mix
        g = torch.Generator().manual_seed(key)
        n = len(idx)
        # replayed examples: share x n on average (the fraction is rounded up or down at random)
        k = int(share * n + float(torch.rand((), generator=g)))
        k = min(k, n - 1) if n > 1 else k
        which = torch.randint(len(sources), (k,), generator=g)
        pieces = [own(idx[k:])]
        for j, src in enumerate(sources):
            m = int((which == j).sum())
            if m:
                pieces.append(src.get_batch(torch.randint(src.train_size, (m,), generator=g)))
        joined = concat(pieces)
        if joined is not None:
            return joined
        # not concatenable: a whole batch from one source, with probability `share`
        if float(torch.rand((), generator=g)) < share:
            src = sources[int(torch.randint(len(sources), (), generator=g))]
            return src.get_batch(torch.randint(src.train_size, (n,), generator=g))
        return own(idx)

    return dataclasses.replace(problem, get_batch=get_batch)


def concat(batches: list) -> Any:
    """Batches joined along the first dimension, or None when their structure or widths differ."""
    first = batches[0]
    if len(batches) == 1:
        return first
    try:
        if isinstance(first, torch.Tensor):
            if any(not isinstance(b, torch.Tensor) or b.shape[1:] != first.shape[1:] for b in batches):
                return None
            return torch.cat(batches)
        if isinstance(first, (tuple, list)):
            if any(type(b) is not type(first) or len(b) != len(first) for b in batches):
                return None
            parts = [concat([b[i] for b in batches]) for i in range(len(first))]
            return None if any(p is None for p in parts) else same_sequence(first, parts)
        if isinstance(first, dict):
            if any(not isinstance(b, dict) or b.keys() != first.keys() for b in batches):
                return None
            parts = {key: concat([b[key] for b in batches]) for key in first}
            return None if any(p is None for p in parts.values()) else parts
    except (TypeError, RuntimeError):
        return None
    return None


def mixed_problem(ladder: Ladder, stage: Stage, problem: Problem, build, seed: int) -> Problem:
    """The engine's one call: the stage's problem with its `mix` share replayed (unchanged when mix is 0)."""
    if not stage.mix:
        return problem
    sources = [build(s.knobs) for s in replay_stages(ladder, stage)]
    return with_replay(problem, sources, stage.mix, seed)
