"""An augmentation that changes what the targets describe (augment.augmentation_breaks_labels): a random flip of
the inputs that keeps a label the flip changes is named; a flip the labels are invariant to is not."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from orchestrator.diagnostics.config import FailureConfig
from orchestrator.task import Problem
from test_diagnostics import cfg, mlp, run_stage, settings, stage

WIDTH, CLASSES = 16, 4


def bumps(n: int, seed: int):
    """A bump at position p (0..15) of a noisy 16-vector; p is what the labels are made of."""
    g = torch.Generator().manual_seed(seed)
    p = torch.randint(0, WIDTH, (n,), generator=g)
    grid = torch.arange(WIDTH).float()
    x = torch.exp(-0.5 * (grid[None] - p[:, None].float()) ** 2) + 0.05 * torch.randn(n, WIDTH, generator=g)
    return x, p


def flipped(label) -> Problem:
    """Training batches mirrored at random (p 1/2), the label kept; `label(p)` says what a position means."""
    x, p = bumps(600, seed=1)
    xv, pv = bumps(300, seed=2)
    y, yv = label(p), label(pv)

    def get_batch(idx):
        flip = torch.rand(len(idx)) < 0.5
        return torch.where(flip[:, None], x[idx].flip(-1), x[idx]), y[idx]

    def evaluate(m):
        out = {}
        for split, xs, ys in (("train", x, y), ("val", xv, yv)):
            logits = m(xs)
            out[f"{split}/acc"] = (logits.argmax(-1) == ys).float().mean().item()
            out[f"{split}/loss"] = F.cross_entropy(logits, ys).item()
        return out

    return Problem(model=mlp(d=WIDTH, classes=CLASSES), train_size=len(x), get_batch=get_batch,
                   loss=lambda m, b: F.cross_entropy(m(b[0]), b[1]), evaluate=evaluate, chance_loss=math.log(CLASSES),
                   extras={"x": x, "y": y})


def augmentation_verdicts(tmp_path, label, target, **failure):
    c = cfg(failure=FailureConfig(**failure)) if failure else cfg()
    r, outcome, _ = run_stage(tmp_path, flipped(label), c, st=stage(target, metric="val/acc"), s=settings(budget=300))
    assert not outcome.converged  # the failure checks ran
    return [d for d in r.stage.diagnoses if d["evidence"].get("augmentation")]


def test_a_flip_that_keeps_a_label_it_changes_is_named(tmp_path):
    # the quarter of the vector the bump is in: mirrored, quarter q is shown with the label of quarter 3 - q
    found = augmentation_verdicts(tmp_path, lambda p: p // 4, target=0.95)
    assert len(found) == 1
    d = found[0]
    assert d["code"] == "labels_not_learnable" and d["severity"] == "error"
    good, bad = sorted(d["evidence"]["held_out"])
    assert bad > 3 * good and bad > math.log(CLASSES)


def test_a_flip_that_relabels_the_classes_is_named_by_the_relabelling_alone(tmp_path):
    # the held-out loss rule switched off (a mirror that swaps only some classes keeps it below chance: holdout36's
    # tetromino): the versions' models read each other's examples as the mirrored quarter, consistently
    found = augmentation_verdicts(tmp_path, lambda p: p // 4, target=0.95, augment_ratio=1e9)
    assert len(found) == 1
    d = found[0]["evidence"]
    assert "relabelling" in found[0]["message"] and d["relabelled"] - d["kept"] >= 0.15, d
    assert d["relabelled"] >= d["own"] - 0.15


def test_a_flip_the_labels_are_invariant_to_is_not_named(tmp_path):
    # the distance from the middle: a mirrored bump keeps it, so the flip is a proper augmentation (the goal is out
    # of reach only so that the failure checks run); neither rule fires, the relabelling's alone neither
    found = augmentation_verdicts(tmp_path, lambda p: torch.minimum(p, WIDTH - 1 - p) // 2, target=1.01)
    assert found == []
    found = augmentation_verdicts(tmp_path, lambda p: torch.minimum(p, WIDTH - 1 - p) // 2, target=1.01,
                                  augment_ratio=1e9)
    assert found == []


def test_an_augmentation_the_seeds_cannot_fix_is_said_to_be_skipped(tmp_path):
    # the flip drawn from a generator the batch function does not show (a module-level one): no consistent version of
    # the examples can be made, and the check says so instead of staying silent
    problem = flipped(lambda p: p // 4)
    hidden = [torch.Generator().manual_seed(0)]
    x, y = problem.extras["x"], problem.extras["y"]

    def get_batch(idx):
        flip = torch.rand(len(idx), generator=hidden[0]) < 0.5
        return torch.where(flip[:, None], x[idx].flip(-1), x[idx]), y[idx]

    problem.get_batch = get_batch
    r, outcome, _ = run_stage(tmp_path, problem, cfg(), st=stage(0.95, metric="val/acc"), s=settings(budget=300))
    assert not outcome.converged
    said = [d for d in r.stage.diagnoses if d["code"] == "check_skipped"
            and d["evidence"].get("check") == "augmentation_breaks_labels"]
    assert len(said) == 1 and "seeding" in said[0]["message"]
