"""The data checks before the LR probe: input scale, and the loss of fresh weights (nonfinite / bad_init_loss).

Four model families (tests/diag_families.py): clean ones raise nothing above info over five seeds; a broken
init is named as such and never blamed on (or fixed by lowering) the LR.
"""
from __future__ import annotations


import math

import pytest
import torch
from torch import nn
import torch.nn.functional as F

from diag_families import Sinks, FAMILIES, cnn_problem, lm_problem, mlp_problem, seq2seq_problem

from orchestrator import diagnostics
from orchestrator.config import OptimConfig, RunConfig
from orchestrator.diagnostics.config import DiagnosticsConfig, InitConfig, ProbeConfig
from orchestrator.diagnostics.init import check_init
from orchestrator.ladder import Goal, Stage
from orchestrator.task import Problem
from orchestrator.trainer import TrainSettings

torch.set_num_threads(1)


def cfg(**diag) -> RunConfig:
    return RunConfig(task=None, diagnostics=DiagnosticsConfig(**diag))


def settings(lr=1e-3, seed=0):
    return TrainSettings(budget=100, lr=lr, batch_size=16, optim=OptimConfig(), seed=seed)


def stage():
    return Stage("s", Goal("val/loss", 0.0, "min"), knobs={})


def before(problem_fn, lr=1e-3, **diag):
    st = stage()
    got = diagnostics.before_stage(cfg(**diag), st, lambda knobs: problem_fn(), settings(lr), Sinks())
    return st, got


def above_info(st):
    return [(d["code"], d["message"]) for d in st.diagnoses if d["severity"] != "info"]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_clean_families_raise_nothing_before_training(family):
    for seed in range(5):
        st, lr = before(lambda: FAMILIES[family](seed=seed))
        assert above_info(st) == [], (family, seed)
        assert lr == 1e-3  # the probe keeps a sane configured LR


def test_the_init_check_costs_a_few_forwards_of_one_batch():
    problem = lm_problem()
    calls = []
    problem.model.register_forward_hook(lambda *_: calls.append(1))
    assert check_init(InitConfig(), stage(), problem, settings(), Sinks()) == "ok"
    # the loss and its gradient, once in training mode and once in eval mode (the outputs' gradient), then the
    # loss at three points along the outputs' descent direction (unbounded.along_outputs), and one forward whose
    # outputs the loss gets with noise added (readout.readout, no backward through the model); nothing more
    assert len(calls) == 6


def test_a_huge_last_layer_is_a_bad_init_not_a_high_lr():
    st, lr = before(lambda: mlp_problem(last_scale=60.0), lr=3e-3)
    codes = [d["code"] for d in st.diagnoses]
    assert codes[0] == "bad_init_loss" and st.diagnoses[0]["evidence"]["before_update"]
    assert "lr_too_high" not in codes
    skipped = next(d for d in st.diagnoses if d["code"] == "lr_probe")
    assert skipped["evidence"]["skipped"] and lr == 3e-3  # the LR is kept, not lowered


def test_nan_at_init_in_a_masked_transformer_names_the_op():
    # a query row that sees no key: torch.softmax over a row of -inf is 0/0, before any update
    st, lr = before(lambda: lm_problem(mask_first_row=True))
    first = st.diagnoses[0]
    assert first["code"] == "nonfinite" and first["severity"] == "error" and first["evidence"]["before_update"]
    assert first["evidence"]["trace"]["op"]["op"] == "_softmax"
    assert first["evidence"]["trace"]["cause"] == "fully_masked_row"
    assert "lr_too_high" not in {d["code"] for d in st.diagnoses} and lr == 1e-3


def test_overflowing_hand_written_softmax_at_init_is_unstable_softmax():
    st, _ = before(lambda: lm_problem(hand_softmax=True, score_scale=1000.0))
    codes = [d["code"] for d in st.diagnoses]
    assert codes[:2] == ["unstable_softmax", "nonfinite"] and "lr_too_high" not in codes
    assert st.diagnoses[0]["evidence"]["op"]["op"] == "exp"


def test_without_chance_loss_the_init_loss_check_says_it_skipped():
    def problem():
        p = seq2seq_problem()
        p.chance_loss = None
        return p
    st, _ = before(problem, probe=ProbeConfig(enabled=False))
    d = next(d for d in st.diagnoses if d["code"] == "check_skipped")
    assert d["severity"] == "info" and d["evidence"]["check"] == "bad_init_loss"


@pytest.mark.parametrize("make", [lambda: mlp_problem(x_scale=255.0, x_shift=128.0),
                                  lambda: cnn_problem(pixel_scale=255.0)], ids=["mlp", "cnn"])
def test_unscaled_inputs_are_reported_before_the_probe(make):
    st, _ = before(make, lr=1e-2)
    assert st.diagnoses[0]["code"] == "input_scale" and st.diagnoses[0]["severity"] == "warning"


def test_input_scale_once_per_run_first_stages_only():
    st = Stage("later", Goal("val/loss", 0.0, "min"), knobs={}, after=["s"])
    diagnostics.before_stage(cfg(), st, lambda k: mlp_problem(x_scale=255.0), settings(), Sinks())
    assert st.diagnoses == []


def test_digits_and_standardised_data_raise_no_input_scale():
    from stages.digits import DigitsTask
    task = DigitsTask()
    for n in (10, 100, 1437):
        st, _ = before(lambda: task.build({"subset": n}, 0), probe=ProbeConfig(enabled=False))
        assert "input_scale" not in {d["code"] for d in st.diagnoses}, n
    raw = DigitsTask(scale_inputs=False)  # pixels 0..16: not centred
    st, _ = before(lambda: raw.build({}, 0), probe=ProbeConfig(enabled=False))
    assert "input_scale" in {d["code"] for d in st.diagnoses}


def test_numbers_beside_category_ids_are_checked_too():
    # a tabular batch (category ids, numbers, labels): the first item holds integers, the scale is in the second
    g = torch.Generator().manual_seed(0)
    cats, y = torch.randint(0, 5, (256, 3), generator=g), torch.randint(0, 3, (256,), generator=g)
    nums = torch.randn(256, 4, generator=g) * torch.tensor([2e4, 30.0, 1.0, 0.01])

    class Tab(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed, self.head = nn.Embedding(5, 4), nn.Linear(16, 3)

        def forward(self, c, x):
            return self.head(torch.cat([self.embed(c).flatten(1), x], 1))

    def problem(scale=False):
        x = (nums - nums.mean(0)) / nums.std(0) if scale else nums - nums.mean(0)
        return Problem(model=Tab(), train_size=256, get_batch=lambda i: (cats[i], x[i], y[i]),
                       loss=lambda m, b: F.cross_entropy(m(b[0], b[1]), b[2]), evaluate=lambda m: {},
                       forward=lambda m, b: m(b[0], b[1]), chance_loss=math.log(3))
    st, _ = before(problem, probe=ProbeConfig(enabled=False))
    d = [d for d in st.diagnoses if d["code"] == "input_scale"]
    assert d and "batch item 1" in d[0]["message"] and "apart" in d[0]["message"], st.diagnoses
    st, _ = before(lambda: problem(scale=True), probe=ProbeConfig(enabled=False))
    assert "input_scale" not in {d["code"] for d in st.diagnoses}


def test_one_feature_a_thousand_times_the_others_is_mixed_scales():
    def problem():
        p = mlp_problem()
        p.extras["x_train"] = p.extras["x_train"].clone()
        p.extras["x_train"][:, 3] *= 1000
        return p
    st, _ = before(problem, probe=ProbeConfig(enabled=False))
    d = next(d for d in st.diagnoses if d["code"] == "input_scale")
    assert "apart" in d["message"]


def test_a_sparse_pixel_on_ten_images_is_not_mixed_scales():
    from orchestrator.diagnostics.config import InputScaleConfig
    from orchestrator.diagnostics.inputs import feature_stats
    g = torch.Generator().manual_seed(0)
    # ten standardised images whose pixels are 0 about half the time (noise clamped at 0); one pixel is
    # 0 in nine of them and faint in the tenth: its std rests on one value
    x = torch.randn(10, 144, generator=g).clamp(min=0)
    x = (x - x.mean()) / x.std()
    x[:, 7] = 0.0
    x[3, 7] = 0.05
    assert feature_stats(x, InputScaleConfig())["problems"] == []
    x[:, 20] = torch.randn(10, generator=g) * 1000  # a dense feature in other units still is
    assert any("apart" in p for p in feature_stats(x, InputScaleConfig())["problems"])


def test_nan_in_a_few_training_inputs_is_data_not_the_lr():
    def problem():
        p = mlp_problem()
        x = p.extras["x_train"]
        x[37, 2] = float("nan")  # one bad example, beyond the first batch
        return p
    st, lr = before(problem, lr=1e-2)
    first = st.diagnoses[0]
    assert first["code"] == "nonfinite" and first["evidence"]["what"] == "input"
    assert "lr_too_high" not in {d["code"] for d in st.diagnoses} and lr == 1e-2


def test_a_check_that_raises_before_the_stage_is_skipped_and_the_stage_keeps_its_lr():
    st = Stage("s", Goal("val/loss", 0.0, "min"), knobs={})

    def build(knobs):
        p = mlp_problem()
        p.get_batch = None  # nothing the checks can call
        return p

    got = diagnostics.before_stage(cfg(), st, build, settings(), Sinks())
    assert got is None
    d = [d for d in st.diagnoses if d["code"] == "check_skipped" and d["evidence"].get("check") == "before_stage"]
    assert len(d) == 1 and "TypeError" in d[0]["message"]


def test_a_fresh_autoencoder_on_uncentred_pixels_is_no_bad_init():
    # targets = the inputs, pixels in [0, 1] with mean ~0.3: fresh outputs near 0 start at E[y^2], not at the
    # variance (chance_loss), and that is what a correct reconstruction model does
    g = torch.Generator().manual_seed(0)
    x = (0.4 + 0.2 * torch.randn(64, 16, generator=g)).clamp(0, 1)  # E[y^2] ~5x the variance
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 4), torch.nn.Tanh(), torch.nn.Linear(4, 16))
    from orchestrator.task import Problem
    import torch.nn.functional as F

    def problem(scale=1.0):
        with torch.no_grad():
            model[2].weight.mul_(scale)
        return Problem(model=model, train_size=64, get_batch=lambda i: (x[i], x[i]),
                       loss=lambda m, b: F.mse_loss(m(b[0]), b[1]), evaluate=lambda m: {},
                       chance_loss=float(x.var(0).mean()))
    st, _ = before(problem, probe=ProbeConfig(enabled=False))
    assert "bad_init_loss" not in {d["code"] for d in st.diagnoses}
    st, _ = before(lambda: problem(scale=30.0), probe=ProbeConfig(enabled=False))  # a huge last layer still is
    assert "bad_init_loss" in {d["code"] for d in st.diagnoses}


def test_a_loss_summed_over_the_batch_is_named_and_the_probe_still_runs():
    import dataclasses
    import torch.nn.functional as F

    def summed():
        p = mlp_problem()
        return dataclasses.replace(p, loss=lambda m, b: F.cross_entropy(m(b[0]), b[1], reduction="sum"))
    st, lr = before(summed, lr=1.0)
    d = next(d for d in st.diagnoses if d["code"] == "bad_init_loss")
    assert d["evidence"]["summed"] is True and "reduction='sum'" in d["message"]
    assert d["evidence"]["per_example"] < 2 * d["evidence"]["chance_loss"]
    assert lr < 1.0  # not a broken init: the probe measured the summed loss's steps, and lowered the LR
    # a mean over the batch at the same absurd scale is a broken init, and the probe stands down
    st, lr = before(lambda: mlp_problem(last_scale=100.0), lr=1.0)
    d = next(d for d in st.diagnoses if d["code"] == "bad_init_loss")
    assert "summed" not in d["evidence"] and lr == 1.0


@pytest.mark.parametrize("kept", [False, True])
def test_a_layer_built_inside_forward_is_named_before_the_randomness_it_causes(kept):
    class StemInForward(nn.Module):  # a conv drawn anew at every call: eval outputs differ too, but not by dropout
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            if kept:  # kept as an attribute (holdout24's orientcnn): registered, but never what the optimizer holds
                self.stem = nn.Conv2d(1, 1, 3, padding=1)
                return self.inner(self.stem(x))
            return self.inner(nn.Conv2d(1, 1, 3, padding=1)(x))

    def build():
        problem = cnn_problem()
        problem.model = StemInForward(problem.model)
        return problem
    st, _ = before(build)
    codes = [d["code"] for d in st.diagnoses if d["severity"] != "info"]
    assert codes and codes[0] == "params_not_updating" and "random_eval" not in codes, above_info(st)
    message = st.diagnoses[[d["code"] for d in st.diagnoses].index(codes[0])]["message"]
    assert "not the model's parameters" in message and (not kept or "stem.weight (replaced by each forward)" in message)


def hand_written_loss_problem(loss_fn, seed=0):
    """The blobs MLP with its cross-entropy replaced by `loss_fn(logits, y)`, as a user writes one out."""
    problem = mlp_problem(seed=seed)
    problem.loss = lambda model, batch: loss_fn(model(batch[0]), batch[1])
    return problem


HAND_WRITTEN = {  # each takes a log of a probability: -inf once a logit is large enough
    "bce": lambda z, y: -((y == 0).float() * torch.log(torch.sigmoid(z[:, 0]))
                          + (y != 0).float() * torch.log(1 - torch.sigmoid(z[:, 0]))).mean(),
    "cross_entropy": lambda z, y: F.nll_loss(torch.log(F.softmax(z, dim=-1)), y),
    "picked_probability": lambda z, y: -z.softmax(-1).gather(1, y[:, None]).log().mean(),
}
SAFE = {  # the same losses in one stable op, or with the probability made safe first
    "bce_with_logits": lambda z, y: F.binary_cross_entropy_with_logits(z[:, 0], (y == 0).float()),
    "log_softmax": lambda z, y: F.nll_loss(F.log_softmax(z, dim=-1), y),
    "clamped": lambda z, y: -z.softmax(-1).gather(1, y[:, None]).clamp(min=1e-7).log().mean(),
    "plus_eps": lambda z, y: -torch.log(torch.sigmoid(z[:, 0]) + 1e-7).mean(),
}


@pytest.mark.parametrize("name", sorted(HAND_WRITTEN))
def test_a_log_of_a_probability_is_named_before_it_turns_nan(name):
    st, lr = before(lambda: hand_written_loss_problem(HAND_WRITTEN[name]))
    d = [x for x in st.diagnoses if x["code"] == "log_of_zero"]
    assert d and d[0]["severity"] == "warning" and "-inf" in d[0]["message"], above_info(st)
    where, line = d[0]["evidence"]["where"].rsplit(":", 1)  # the user's line, not torch's
    assert where.endswith("test_diag_init.py") and int(line) - _line_of(name) in (0, 1)
    assert lr is not None  # the loss is sound until then: the probe still measures the LR


def _line_of(name):
    import inspect
    return inspect.getsourcelines(HAND_WRITTEN[name])[1]


@pytest.mark.parametrize("name", sorted(SAFE))
def test_a_stable_or_guarded_log_is_not_named(name):
    for seed in range(3):
        st, _ = before(lambda: hand_written_loss_problem(SAFE[name], seed))
        assert [x for x in st.diagnoses if x["code"] == "log_of_zero"] == [], above_info(st)


def test_a_model_the_op_watch_cannot_run_still_gets_the_init_check():
    from torch.utils._python_dispatch import _get_current_dispatch_mode

    class NoModes(nn.Module):  # stands for a model that fails under a dispatch mode (some compiled graphs)
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            if _get_current_dispatch_mode() is not None:
                raise RuntimeError("cannot run under a dispatch mode")
            return self.inner(x)

    def build():
        problem = mlp_problem(last_scale=100.0)  # logits ~100x: a first loss far above chance
        problem.model = NoModes(problem.model)
        return problem
    st, _ = before(build)
    assert [d["code"] for d in st.diagnoses if d["severity"] != "info"][:1] == ["bad_init_loss"], above_info(st)
    assert not [d for d in st.diagnoses if d["code"] == "check_skipped" and "init" in d["message"]]


class TwoOutputs(nn.Module):
    """Returns (logits, features), as many models do for a feature loss beside the task's."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 64), nn.ReLU())
        self.head = nn.Linear(64, 3)

    def forward(self, x):
        features = self.body(x)
        return self.head(features), features


@pytest.mark.parametrize("swapped", [True, False])
def test_a_loss_on_the_wrong_output_is_named_before_its_bad_init_loss(swapped):
    # `features, logits = model(x)`: the cross-entropy reads 64 hidden features as logits (~log 64 at init, 3.8x the
    # chance loss log 3) and the head gets no gradient; the unused head is the bug, the absurd loss its consequence
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 8, generator=g), torch.randint(0, 3, (64,), generator=g)

    def problem():
        torch.manual_seed(0)
        model = TwoOutputs()

        def loss(m, b):
            logits, features = m(b[0])
            return F.cross_entropy(features if swapped else logits, b[1])
        return Problem(model=model, train_size=64, get_batch=lambda idx: (x[idx], y[idx]), loss=loss,
                       evaluate=lambda m: {}, chance_loss=math.log(3))

    st, _ = before(problem)
    alarms = [d for d in st.diagnoses if d["severity"] != "info"]
    if not swapped:
        assert alarms == []
        return
    assert [d["code"] for d in alarms] == ["params_not_updating", "bad_init_loss"], above_info(st)
    assert "head.weight" in alarms[0]["message"] and "not computed from the model's output" in alarms[1]["message"]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_a_constant_initialisation_is_named_before_the_first_loss_is_judged(family):
    def build():
        problem = FAMILIES[family]()
        with torch.no_grad():  # every weight and bias one value (holdout35's battery): units that stay copies
            for p in problem.model.parameters():
                p.fill_(0.05)
        return problem
    st, _ = before(build)
    codes = [d["code"] for d in st.diagnoses if d["severity"] != "info"]
    assert codes[:1] == ["symmetric_units"], above_info(st)
    assert st.diagnoses[[d["code"] for d in st.diagnoses].index("symmetric_units")]["iteration"] == 0


def test_one_raw_column_among_standardised_ones_is_named_before_the_first_loss():
    g = torch.Generator().manual_seed(0)

    def raw_pressure():
        problem = mlp_problem()
        get = problem.get_batch
        offset = 1000 + 7 * torch.randn(10_000, generator=g)  # a pressure in hPa beside z-scores

        def batch(idx):
            x, y = get(idx)
            x = x.clone()
            x[:, 2] = offset[idx]
            return x, y
        problem.get_batch = batch
        problem.extras = {}  # the inputs judged as get_batch gives them
        return problem
    st, _ = before(raw_pressure)
    d = [x for x in st.diagnoses if x["code"] == "input_scale"]
    assert d and "feature 2" in d[0]["message"], above_info(st)
    assert [x["code"] for x in st.diagnoses if x["severity"] != "info"][0] == "input_scale"
