"""Failure checks after a small stage failed: a bias that BatchNorm cancels is not a frozen parameter, and examples
that fit one at a time but not as one batch meet other examples' targets in batches (the method's
batch-size-1 vs batched check)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from test_diag_start import above_info, found, images, mlp_problem, run, tuple_problem

from orchestrator.config import OptimConfig
from orchestrator.task import Problem

torch.set_num_threads(1)


def errors(r, code):
    return [d for d in r.stage.diagnoses if d["code"] == code and d["severity"] == "error"]


def test_a_convolution_bias_before_batchnorm_is_not_a_frozen_parameter():
    # BatchNorm subtracts the mean the bias adds: its gradient is ~1e-9 of its size, and plain SGD leaves it
    # bitwise unchanged (holdout14's VGG); the failure's params_not_updating must not make it a root-cause error
    x, y = images()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                          nn.Linear(8 * 8 * 8, 4))
    problem = tuple_problem(model, x, y, 4, None)
    r, outcome = run(problem, budget=40, lr=1e-3, optim=OptimConfig(name="sgd", momentum=0.0), after_failure=True)
    assert not outcome.converged and errors(r, "params_not_updating") == []


def conv_net():
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 8 * 8, 4))


def test_a_batch_function_that_pairs_inputs_with_other_targets_at_each_fetch_is_named():
    # the batch function flips a random half of the images and puts them last: inputs reordered, targets not
    # (holdout14's VGG). One fetch of a batch is a fixed (wrong) pairing that fits; fetched anew, nothing does
    x, y = images()
    torch.manual_seed(0)
    problem = tuple_problem(conv_net(), x, y, 4, None)
    flip = torch.Generator().manual_seed(1)

    def reordered(idx):
        xb, yb = x[idx], y[idx]
        mask = torch.rand(len(idx), generator=flip) < 0.5
        return torch.cat([xb[~mask], xb[mask].flip(-1)]), yb

    problem.get_batch = reordered
    r, outcome = run(problem, budget=40, after_failure=True)
    found = [d for d in r.stage.diagnoses if d["evidence"].get("fetch_dependent")]
    assert not outcome.converged and found and found[0]["code"] == "labels_not_learnable"
    assert found[0]["severity"] == "error" and "fetched anew" in found[0]["message"]
    # a proper augmentation (random flips that keep each image with its label): fitted both ways, nothing said
    clean = tuple_problem(conv_net(), x, y, 4, None)

    def augmented(idx):
        xb = x[idx].clone()
        mask = torch.rand(len(idx), generator=flip) < 0.5
        xb[mask] = xb[mask].flip(-1)
        return xb, y[idx]

    clean.get_batch = augmented
    r, outcome = run(clean, budget=40, target=2.0, after_failure=True)
    assert not outcome.converged and not errors(r, "labels_not_learnable")


class ShuffledInTraining(nn.Module):
    """Mixes up the batch in training only (a mixup of the inputs without their labels): eval is untouched."""

    def forward(self, x):
        return x[torch.randperm(len(x))] if self.training else x


def test_a_batch_function_that_reads_on_through_a_stream_is_not_misaligned():
    # each fetch returns the next chunk of a stream (truncated BPTT's batches): inputs and targets both change, so a
    # fetch memorised is no fixed set of examples that fresh fetches should fit too
    x, y = images()
    torch.manual_seed(0)
    problem = tuple_problem(conv_net(), x, y, 4, None)
    g = torch.Generator().manual_seed(1)

    def next_chunk(idx):
        return torch.randn(len(idx), 1, 8, 8, generator=g), torch.randint(0, 4, (len(idx),), generator=g)

    problem.get_batch = next_chunk
    r, outcome = run(problem, budget=40, after_failure=True)
    assert not outcome.converged and not [d for d in r.stage.diagnoses if d["evidence"].get("fetch_dependent")]


def test_examples_that_fit_one_at_a_time_but_not_as_a_batch_have_misaligned_targets():
    # the batch function is intact, but in training a layer pairs each example with another's target: each
    # example alone is untouched, so they fit one at a time, while no batch ever fits
    x, y = images()
    torch.manual_seed(0)
    problem = tuple_problem(nn.Sequential(ShuffledInTraining(), conv_net()), x, y, 4, None)
    r, outcome = run(problem, budget=40, after_failure=True)
    found = [d for d in r.stage.diagnoses if d["evidence"].get("batched_vs_one")]
    assert not outcome.converged and found and found[0]["code"] == "labels_not_learnable"
    assert found[0]["severity"] == "error" and "one at a time" in found[0]["message"]
    # the same model without the mixing layer: fitted both ways, nothing said
    r, outcome = run(tuple_problem(conv_net(), x, y, 4, None), budget=40, target=2.0, after_failure=True)
    assert not outcome.converged and not errors(r, "labels_not_learnable")


def test_a_loss_that_falls_while_the_task_s_own_measures_stay_put_is_a_mismatch():
    # the loss reads other targets than the task's metrics (each label moved to the next class): it falls while
    # the task's own train/loss and train/acc, computed on the real labels, get nowhere
    wrong = mlp_problem(loss_fn=lambda out, y: F.cross_entropy(out, (y + 1) % 3))
    r, outcome = run(wrong, budget=200, after_failure=True)
    d = [d for d in r.stage.diagnoses if d["code"] == "loss_mismatch"]
    assert not outcome.converged and d and d[0]["severity"] == "error" and "train/acc" in d[0]["evidence"]["measures"]
    for seed in range(3):  # the right loss: the measures follow it, nothing said
        r, outcome = run(mlp_problem(seed=seed), budget=200, target=2.0, after_failure=True)
        assert not [d for d in r.stage.diagnoses if d["code"] == "loss_mismatch"], seed


def test_the_task_s_own_training_loss_rising_while_the_optimised_one_halves_is_a_mismatch():
    from orchestrator.diagnostics.mismatch import LossAndMeasure
    trace = LossAndMeasure()
    trace.on_window(None, None, 1, [2.5] * 10, [None] * 10)
    for acc, loss in ((0.09, 2.46), (0.15, 2.7), (0.14, 4.0), (0.13, 5.1)):  # a score creeping up by chance
        trace.on_eval(None, None, {"train/acc": acc, "train/loss": loss})
    trace.on_window(None, None, 500, [1.1] * 50, [None] * 50)
    start, now, flat = trace.verdict(0.5, 4)
    assert abs(start - 2.5) < 1e-9 and abs(now - 1.1) < 1e-9 and flat["train/loss"] == (2.46, 5.1)
    trace.on_eval(None, None, {"train/acc": 0.6, "train/loss": 1.2})  # both following the loss: nothing
    assert trace.verdict(0.5, 4) is None


@pytest.mark.parametrize("measure_end,loss_end,mismatch", [
    (0.607, 7e-5, True),    # the loss fell 10^4x, the task's loss 13%: a forecaster trained to copy its input
    (0.05, 7e-5, False),    # ... the task's loss fell 14x with it: the same thing, measured in eval mode
    (0.607, 0.2, False),    # a loss that fell 3.5x: a 13% fall of the measure is a move
    (0.607, -2.0, False)])  # a likelihood that went below 0: its fall has no scale to share
def test_a_loss_that_fell_by_orders_of_magnitude_needs_the_measure_to_fall_a_fair_share(measure_end, loss_end,
                                                                                        mismatch):
    from orchestrator.diagnostics.mismatch import LossAndMeasure
    trace = LossAndMeasure()
    trace.on_window(None, None, 1, [0.7] * 10, [None] * 10)
    for k, mse in enumerate((0.699, 0.66, 0.63, measure_end)):
        trace.on_eval(None, None, {"train/mse_loss": mse})
    trace.on_window(None, None, 500, [loss_end] * 50, [None] * 50)
    assert (trace.verdict(0.5, 4) is not None) == mismatch


@pytest.mark.parametrize("loss_end,mismatch", [(1e-3, True), (0.3, False)])
def test_a_training_loss_that_rises_while_the_optimised_one_vanishes_is_a_mismatch_though_a_score_moved(loss_end,
                                                                                                    mismatch):
    # holdout25's caesar: cross_entropy(..., ignore_index=EOS) instead of PAD. The optimised loss goes to ~0 (it
    # skips EOS and scores the padding), train/acc rises to 0.857 and sticks, the task's train/loss rises 14%
    from orchestrator.diagnostics.mismatch import LossAndMeasure
    trace = LossAndMeasure()
    trace.on_window(None, None, 1, [1.0] * 10, [None] * 10)
    for acc, loss in ((0.829, 1.619), (0.857, 1.56), (0.857, 1.7), (0.857, 1.841)):
        trace.on_eval(None, None, {"train/acc": acc, "train/loss": loss})
    trace.on_window(None, None, 500, [loss_end] * 50, [None] * 50)
    assert (trace.verdict(0.5, 4) is not None) == mismatch  # a 3x fall is no proof: the 25% rise stands there


def test_loss_and_measures_are_compared_from_the_same_point_the_first_evaluation():
    # a warm-started stage's first steps on new examples (1.85) fall to 0.2 by the first evaluation; a too-high LR
    # then worsens the loss (0.7) and the measures together: against the first steps the loss seemed to halve
    from orchestrator.diagnostics.mismatch import LossAndMeasure
    trace = LossAndMeasure()
    trace.on_window(None, None, 1, [1.85] * 15 + [0.2] * 10, [None] * 25)
    trace.on_eval(None, None, {"train/acc": 0.958, "train/loss": 0.165})
    for at in range(4):
        trace.on_window(None, None, 26 + 25 * at, [0.7] * 25, [None] * 25)
        trace.on_eval(None, None, {"train/acc": 0.68, "train/loss": 1.11})
    assert trace.verdict(0.5, 4) is None


class Residual(nn.Module):
    """A residual MLP regressor: the input's own scale flows to the output, so fresh outputs are of the targets'
    scale and the MSE of fresh weights is ~2x the targets' mean square."""

    def __init__(self, scale: float):
        super().__init__()
        self.body, self.head = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8)), nn.Linear(8, 1)
        with torch.no_grad():  # a random direction, of norm `scale` (x has unit variance per feature)
            w = torch.randn(1, 8)
            self.head.weight.copy_(scale * w / w.norm())
            self.head.bias.zero_()

    def forward(self, x):
        return self.head(x + self.body(x)).squeeze(-1)


def test_fresh_regression_outputs_of_the_targets_scale_are_no_bad_init_after_a_failure():
    # standardised targets; outputs of the same scale start at MSE ~2 (chance 1): a clean init. Ten times that
    # output scale starts near 100x: a bad one. Both stages are made to fail (an unreachable goal)
    from test_diag_start import Problem, Stage, Goal
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 8, generator=g)
    y = x.sum(1) / 8 ** 0.5
    for scale, bad in ((1.0, False), (10.0, True)):
        for seed in range(3):
            torch.manual_seed(seed)
            model = Residual(scale)
            problem = Problem(model=model, train_size=64, get_batch=lambda i: (x[i], y[i]),
                              loss=lambda m, b: F.mse_loss(m(b[0]), b[1]),
                              evaluate=lambda m: {"train/loss": F.mse_loss(m(x), y).item()},
                              chance_loss=float(y.var()))
            r, outcome = run(problem, budget=10, after_failure=True,
                             stage=Stage("s", Goal("train/loss", -1.0, "min"), knobs={}))
            init = [d for d in r.stage.diagnoses if d["code"] == "bad_init_loss" and d["severity"] != "info"]
            assert not outcome.converged and bool(init) == bad, (scale, seed, r.stage.diagnoses)


def test_label_smoothing_is_a_floor_of_the_loss_not_a_model_that_cannot_fit_one_example():
    # one example trained alone stops at the smoothed targets' entropy (20-29% of its start for 23 down to 2
    # classes at 0.1): fitted down to a floor, said as info. A stage forced to fail, so the checks all run
    from test_diag_start import mlp_problem
    for classes, smoothing in ((2, 0.1), (3, 0.1), (10, 0.1), (10, 0.2)):
        r, outcome = run(mlp_problem(classes=classes,
                                     loss_fn=lambda o, t: F.cross_entropy(o, t, label_smoothing=smoothing)),
                         budget=30, after_failure=True)
        one = [d for d in r.stage.diagnoses if d["code"] == "overfit_batch_size_1"]
        assert not outcome.converged and one and one[0]["severity"] == "info", (classes, smoothing, one)
        assert one[0]["evidence"].get("floor"), (classes, smoothing)
        # real and shuffled labels compared above an unknown floor would read a squeezed margin as no margin
        assert not found(r, "labels_not_learnable"), (classes, smoothing)


class Normalise(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, z):
        return F.normalize(z, dim=self.dim)


def contrastive_problem(seed=0, normalise_over_batch=False):
    """InfoNCE on two noisy views of each example, the other examples of the batch its negatives: the training loss
    depends on the batch by design, and one example alone has no negatives (its loss is exactly 0)."""
    from test_diag_start import Problem
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 8, generator=g)
    noise = torch.Generator().manual_seed(seed + 1)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 16), Normalise(0 if normalise_over_batch else 1))

    def views(idx):
        xb = x[idx]
        return xb + 0.1 * torch.randn(xb.shape, generator=noise), xb + 0.1 * torch.randn(xb.shape, generator=noise)

    def loss(m, b):
        return F.cross_entropy(m(b[0]) @ m(b[1]).T / 0.2, torch.arange(len(b[0])))

    def evaluate(m):
        with torch.no_grad():
            z, zv = m(x), m(x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(9)))
        return {"train/acc": ((zv @ z.T).argmax(1) == torch.arange(len(x))).float().mean().item()}

    return Problem(model=model, train_size=64, get_batch=views, loss=loss, evaluate=evaluate,
                   chance_loss=math.log(16))


def test_a_contrastive_loss_with_in_batch_negatives_is_batch_dependent_by_design():
    # neither the start check (the loss normalised over the batch) nor the failure checks (one example cannot be
    # fit: its loss is 0 already) may read the design as a bug; the model's outputs themselves are per-example
    for seed in range(3):
        r, outcome = run(contrastive_problem(seed), budget=30, after_failure=True)
        assert not outcome.converged and above_info(r) == [], (seed, above_info(r))
        skipped = {d["evidence"].get("check") for d in r.stage.diagnoses if d["code"] == "check_skipped"}
        assert {"batch_dependence (loss)", "overfit_batch_size_1"} <= skipped, (seed, skipped)
        # stand-downs on evidence: nothing about the batch layout to change
        assert not [d for d in r.stage.diagnoses if d["code"] == "check_skipped" and "`forward`" in d["fix"]]
    # the embeddings normalised over the batch instead (a bug): each example's output depends on its batch-mates
    r, _ = run(contrastive_problem(normalise_over_batch=True), budget=10)
    assert found(r, "batch_dependence")



class ClassesFirst(nn.Module):
    """An MLP whose output is (classes, batch): a layout the batch check cannot read without Problem.forward."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 4))

    def forward(self, x):
        return self.net(x).t()


def test_a_check_that_cannot_read_the_batch_layout_says_how_to_show_it():
    x, y = images(n=64)
    x = x.flatten(1)[:, :8]
    torch.manual_seed(0)
    problem = Problem(model=ClassesFirst(), train_size=64, get_batch=lambda i: (x[i], y[i]),
                      loss=lambda m, b: F.cross_entropy(m(b[0]).t(), b[1]),
                      evaluate=lambda m: {"train/acc": (m(x).argmax(0) == y).float().mean().item()},
                      chance_loss=math.log(4))
    r, _ = run(problem, budget=10)
    skips = [d for d in r.stage.diagnoses if d["code"] == "check_skipped"
             and d["evidence"].get("check") == "batch_dependence (output)"]
    assert skips and "`forward`" in skips[0]["fix"], skips


# --- targets that index into the input ------------------------------------------------------------------------

class Pointer(nn.Module):
    """Scores each position of a padded source: the output is a distribution over the example's own positions."""

    def __init__(self, vocab=16, d=32):
        super().__init__()
        self.emb, self.score = nn.Embedding(vocab, d), nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, 1))

    def forward(self, src, src_len):
        scores = self.score(self.emb(src)).squeeze(-1)
        pad = torch.arange(src.shape[1])[None, :] >= src_len[:, None]
        return scores.masked_fill(pad, float("-inf"))


def pointer_problem(n=400, scrambled=False, seed=0) -> Problem:
    """Point at the largest token of a source of 3..8 tokens (padded per batch to its longest). `scrambled`: each
    target a random position within its own source, unrelated to the tokens."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(3, 9, (n,), generator=g)
    sources = [torch.randperm(15, generator=g)[:int(k)] + 1 for k in lengths]
    targets = torch.stack([s.argmax() for s in sources])
    if scrambled:
        targets = torch.stack([torch.randint(int(k), (), generator=g) for k in lengths])

    def get_batch(idx):
        chosen = [sources[i] for i in idx.tolist()]
        width = max(len(s) for s in chosen)
        src = torch.stack([F.pad(s, (0, width - len(s))) for s in chosen])
        return {"src": src, "src_len": lengths[idx], "tgt": targets[idx]}

    def loss(m, b):
        return F.cross_entropy(m(b["src"], b["src_len"]), b["tgt"])

    def evaluate(m):
        b = get_batch(torch.arange(n))
        return {"train/acc": (m(b["src"], b["src_len"]).argmax(-1) == b["tgt"]).float().mean().item()}

    torch.manual_seed(seed)
    return Problem(model=Pointer(), train_size=n, get_batch=get_batch, loss=loss, evaluate=evaluate,
                   forward=lambda m, b: m(b["src"], b["src_len"]), targets=lambda b: b["tgt"], chance_loss=1.7)


def test_targets_that_index_into_the_source_are_shuffled_among_sources_of_their_length():
    # another example's source may be shorter than a target's position (IndexError inside the task's loss, or an
    # inf loss at a padded position): the label check pairs each example only with sources of its own length, and
    # judges the labels as usual: these follow from the inputs
    problem = pointer_problem()
    r, _ = run(problem, budget=10, after_failure=True)
    labels = [d for d in r.stage.diagnoses if d["code"] in ("labels_not_learnable", "check_skipped")
              and "labels_not_learnable" in (d["evidence"].get("check"), d["code"])]
    assert labels == [], labels  # it ran to the end, and the labels passed
    from orchestrator.diagnostics.failure import alike_permutation
    chosen = torch.arange(64)
    perm = alike_permutation(problem, chosen)
    lengths = problem.get_batch(chosen)["src_len"]
    assert (lengths[perm] == lengths).all() and (perm != chosen).float().mean() > 0.5


def two_input_problem(seed=0, n=5000, question_shuffled=False) -> Problem:
    """Each example's class is read from x through one of four maps picked by its question q (FiLM-like). The bug
    shuffles the training questions apart from their x and y: the model can still learn part of y from x alone."""
    g = torch.Generator().manual_seed(seed)
    x, q = torch.randn(n, 8, generator=g), torch.randint(0, 4, (n,), generator=g)
    y = torch.einsum("nd,ndc->nc", x, torch.randn(4, 8, 3, generator=g)[q]).argmax(-1)
    if question_shuffled:
        q = q[torch.randperm(n, generator=g)]
    torch.manual_seed(seed)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.body = nn.Embedding(4, 8), nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 3))

        def forward(self, x, q):
            return self.body(torch.cat([x, self.emb(q)], -1))

    def evaluate(m):
        out = m(x, q)
        return {"train/acc": (out.argmax(-1) == y).float().mean().item(), "train/loss": F.cross_entropy(out, y).item()}
    return Problem(model=Net(), train_size=n, get_batch=lambda i: (x[i], q[i], y[i]), evaluate=evaluate,
                   loss=lambda m, b: F.cross_entropy(m(b[0], b[1]), b[2]), chance_loss=math.log(3))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_an_input_the_trained_model_learnt_to_ignore_is_not_paired_with_its_example(seed):
    r, outcome = run(two_input_problem(seed, question_shuffled=True), budget=400, batch_size=32, after_failure=True)
    d = errors(r, "labels_not_learnable")
    assert not outcome.converged and d and d[0]["evidence"]["ignored"] == ["#1 of the batch tuple"], above_info(r)
    assert d[0]["evidence"]["loss_ratio_when_swapped"]["#0 of the batch tuple"] >= 1.1
    # the same model on the same data, each question with its own example: it reads both, nothing is said
    r, outcome = run(two_input_problem(seed), budget=400, batch_size=32, after_failure=True)
    assert not outcome.converged and above_info(r) == []


@pytest.mark.parametrize("seed", [0, 1])
def test_targets_flattened_in_another_order_than_the_outputs_let_the_label_check_judge(seed):
    """(batch, time) logits against targets flattened time-major: the loss depends on the batch (a warning at the
    start), and the model itself is well, so the label check still runs after the failure and names the pairing."""
    from test_diag_start import PAD, gru_problem

    def time_major(logits, tgt):
        return F.cross_entropy(logits.reshape(-1, 10), tgt.t().reshape(-1), ignore_index=PAD)
    r, outcome = run(gru_problem(seed, loss_fn=time_major), budget=60, after_failure=True)
    codes = [c for c, _ in above_info(r)]
    assert not outcome.converged and codes[0] == "batch_dependence" and errors(r, "labels_not_learnable"), codes
    assert "other examples' targets" in found(r, "batch_dependence")[0]["message"]


# --- real labels that fit worse than shuffled ones (labels_not_learnable, evidence shuffled_better) ---------------

@pytest.mark.parametrize("bug", ["keypoint_xy_swapped", "none"])
def test_targets_in_the_wrong_layout_fit_worse_than_shuffled_ones(bug):
    # benchmarks/holdout20's keypoint regressor (a soft-argmax over a CNN's heatmap, written outside this repository)
    # with its targets kept as (row, col) for the soft-argmax's (x, y): a translation-equivariant net cannot put its
    # heatmap at the transposed position, and fits those targets worse than shuffled ones, which it memorises.
    # 200 steps of Adam on 100 images are chaotic (an LR 0.1% lower flips one pair of runs), so the verdict is asked
    # of two seeds at an LR where both pairs of runs part widely here (real 3-24x the shuffled loss): at least one
    # must name it on any machine; a clean model is never named
    from benchmarks.holdout20.keypoint import KeypointTask
    named = []
    for seed in (0, 1) if bug != "none" else (0,):
        problem = KeypointTask(bug).build({"subset": 100}, seed)
        r, outcome = run(problem, budget=50, lr=0.02, batch_size=32, after_failure=True)
        assert not outcome.converged
        if bug == "none":
            assert not found(r, "labels_not_learnable"), [(x["code"], x["message"]) for x in r.stage.diagnoses]
            return
        named += [x["evidence"] for x in found(r, "labels_not_learnable") if x["evidence"].get("shuffled_better")]
        if named:
            break
    assert named
    e = named[0]
    assert e["shuffled_final"] < 0.5 * e["real_final"] and e["shuffled_final_again"] < 0.5 * e["real_final_again"]


def test_a_held_out_accuracy_far_above_guessing_clears_the_labels():
    # the label check's escape for a stage that generalised although 200 steps on 256 examples do not: its best
    # held-out accuracy against always guessing the most frequent training class
    from types import SimpleNamespace
    from orchestrator.diagnostics.failure import _beyond_guessing
    from orchestrator.ladder import Goal, Stage
    targets = torch.tensor([0] * 20 + [1] * 10 + [2] * 10 + [-100] * 5)  # the most frequent class: 0.5 of them

    def why(best, metric="val/acc", mode="max", t=targets):
        run = SimpleNamespace(stage=Stage("s", Goal(metric, 0.9, mode), knobs={}), best=best)
        return _beyond_guessing(run, t, 0.2)

    assert "0.75" in why(0.75) and "0.5" in why(0.75)
    assert why(0.65) is None  # within the margin of guessing
    assert why(0.95, metric="train/acc") is None  # memorising says nothing about unseen examples
    assert why(0.95, t=targets.float()) is None  # real-valued targets have no class to guess
    assert why(None) is None


@pytest.mark.parametrize("family", ["mlp", "cnn"])
def test_a_memorised_loss_beside_an_accuracy_it_does_not_allow_is_a_loss_mismatch(family):
    # the loss skips class 0 (ignore_index=0; holdout43's swappairs left its first answer letter unlabelled): it is
    # memorised (~0) while train/acc, which counts class 0 too, stays near 2/3 or 3/4
    from test_diag_start import FAMILIES as START
    r, outcome = run(START[family](loss_fn=lambda z, y: F.cross_entropy(z, y, ignore_index=0)), budget=300,
                     after_failure=True)
    assert not outcome.converged and found(r, "loss_mismatch"), r.stage.diagnoses
    for seed in range(3):  # the same stage with a loss that scores every example: memorised, and so is the accuracy
        r, outcome = run(START[family](seed=seed), budget=300, target=1.01, after_failure=True)
        assert not [d for d in r.stage.diagnoses if d["evidence"].get("memorised")], seed


def test_an_accuracy_that_moved_but_stopped_short_of_what_a_memorised_loss_allows_is_a_loss_mismatch():
    # the measures moved (0.3 -> 0.867: the first rule is silent), the loss went to 0.0014: a cross-entropy of L per
    # scored position leaves at most L / ln 2 of them wrong, so 13% wrong is the accuracy counting other positions
    from orchestrator.diagnostics.mismatch import LossAndMeasure

    def trace(final_acc):
        t = LossAndMeasure()
        t.on_window(None, None, 1, [2.0] * 10, [None] * 10)
        t.on_eval(None, None, {"train/acc": 0.3, "train/loss": 2.0})
        for _ in range(5):
            t.on_window(None, None, 1, [0.0014] * 10, [None] * 10)
            t.on_eval(None, None, {"train/acc": final_acc, "train/loss": 0.5})
        return t
    assert trace(0.867).verdict(0.5, 4) is None  # the scores moved, the task's own loss fell
    loss, allowed, short = trace(0.867).memorised_unmet(4)
    assert loss < 0.002 and allowed > 0.99 and short == {"train/acc": 0.867}
    assert trace(0.995).memorised_unmet(4) is None  # memorised, and so is the accuracy


class CLSOnly(nn.Module):
    """An encoder classifier whose summary token attends to itself alone (holdout44's twinletter: a causal mask copied
    onto an encoder with the CLS token first), so every example gets the same output; `reads`: it attends to all."""

    def __init__(self, reads=False, vocab=10, d=16):
        super().__init__()
        self.reads, self.emb, self.cls, self.out = reads, nn.Embedding(vocab, d), nn.Parameter(torch.randn(d)), \
            nn.Linear(d, 3)

    def forward(self, ids):
        h = torch.cat([self.cls.expand(len(ids), 1, -1), self.emb(ids)], 1)
        scores = h[:, :1] @ h.transpose(1, 2)
        if not self.reads:
            scores = scores.masked_fill(torch.arange(h.shape[1])[None, None] > 0, float("-inf"))  # BUG: itself only
        return self.out((torch.softmax(scores, -1) @ h)[:, 0])


def cls_problem(reads, seed=0, n=64):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 10, (n, 6), generator=g)
    y = ids[:, 0] % 3
    torch.manual_seed(seed)
    model = CLSOnly(reads)

    def evaluate(m):
        out = m(ids)
        return {"train/acc": (out.argmax(-1) == y).float().mean().item(), "train/loss": F.cross_entropy(out, y).item()}
    return Problem(model=model, train_size=n, get_batch=lambda i: {"x": ids[i], "y": y[i]},
                   loss=lambda m, b: F.cross_entropy(m(b["x"]), b["y"]), evaluate=evaluate, chance_loss=math.log(3))


def test_a_model_that_gives_every_example_the_same_output_is_named_when_the_label_check_runs():
    # (the label check's stand-down on a dict batch whose source swap moves no output; here the rule itself, on
    # fresh weights as the task built them)
    from types import SimpleNamespace

    from orchestrator.diagnostics.config import FailureConfig
    from orchestrator.diagnostics.failure import Context, _same_for_all

    def judged(reads, seed=0):
        problem = cls_problem(reads, seed)
        run_ = SimpleNamespace(problem=problem, model=problem.model, initial_state=None)
        return _same_for_all(Context(FailureConfig(), run_, None, None, None), problem.get_batch(torch.arange(16)))
    d = judged(reads=False)
    assert d is not None and d.code == "labels_not_learnable" and d.severity == "error" and d.evidence["same_output"]
    for seed in range(3):  # attending to every token: the outputs differ
        assert judged(reads=True, seed=seed) is None
    problem = cls_problem(reads=True)
    nn.init.zeros_(problem.model.out.weight)  # a zero-initialised head: the same output for all, on purpose
    run_ = SimpleNamespace(problem=problem, model=problem.model, initial_state=None)
    assert _same_for_all(Context(FailureConfig(), run_, None, None, None), problem.get_batch(torch.arange(16))) is None
