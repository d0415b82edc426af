"""Layer health on any architecture: recurrent, attention and convolutional models get statistics,
update ratios and lr_too_low, not only models built from nn.ReLU/Tanh/Sigmoid modules."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from orchestrator.diagnostics.config import HealthConfig
from orchestrator.diagnostics.health import HealthMonitor
from orchestrator.ladder import Goal, Stage
from test_diag_start import FAMILIES, above_info, blobs, found, gru_problem, run, tuple_problem

torch.set_num_threads(1)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_gets_update_ratios(family):
    r, _ = run(FAMILIES[family](), budget=60)
    h = next(m for m in r.monitors if isinstance(m, HealthMonitor))
    assert len(h.update_ratios) == 2 and all(ratios for _, ratios in h.update_ratios)  # steps 1 and 50


@pytest.mark.parametrize("family", ["gru", "transformer"])
def test_lr_too_low_on_recurrent_and_attention_models(family):
    r, _ = run(FAMILIES[family](), budget=60, lr=1e-9, after_failure=True)
    assert found(r, "lr_too_low")


@pytest.mark.parametrize("family", ["mlp", "transformer"])
def test_an_lr_thousands_of_times_below_the_nan_threshold_is_too_low_when_the_weights_crawl(family):
    # Adam at 1e-5 moves the weights ~1e-4 of their size per step: above the "barely move" rule (1e-5), yet
    # far below healthy (1e-3); what names it is the probe's NaN threshold, 10000x above that LR
    # (the one-example check names small stages' LR too: only the update-ratio verdict is looked at here)
    def by_ratio(r):
        return [d for d in found(r, "lr_too_low") if "update_ratio" in d["evidence"]]
    probe = {"threshold": 0.1}
    r, _ = run(FAMILIES[family](), budget=60, lr=1e-5, after_failure=True, probe=probe)
    d = by_ratio(r)
    assert d and d[0]["evidence"]["below_threshold"] >= 1000 and d[0]["evidence"]["median"] < 1e-3
    if family != "mlp":
        return  # the two controls, on the cheapest model
    r, _ = run(FAMILIES[family](), budget=60, lr=1e-5, after_failure=True)
    assert not by_ratio(r)  # no probe: nothing to compare the LR with
    r, _ = run(FAMILIES[family](), budget=60, lr=3e-3, after_failure=True, probe=probe)  # 33x below: a usual LR
    assert not by_ratio(r)


def test_a_schedule_that_takes_the_lr_to_nothing_is_named_lr_too_low():
    # StepLR meant per epoch, stepped per iteration: x0.1 every 5 iterations, 1e-12 of the LR by iteration 60
    from orchestrator.config import OptimConfig, SchedulerConfig
    fast = OptimConfig(scheduler=SchedulerConfig(_target_="torch.optim.lr_scheduler.StepLR",
                                                 args={"step_size": 5, "gamma": 0.1}))
    r, _ = run(FAMILIES["mlp"](), budget=60, lr=3e-3, optim=fast, after_failure=True)
    d = [d for d in found(r, "lr_too_low") if "lr_at_end" in d["evidence"]]
    assert d and "schedule" in d[0]["message"] and d[0]["evidence"]["lr_at_end"] < 1e-9
    r, _ = run(FAMILIES["mlp"](), budget=60, lr=3e-3, after_failure=True)  # no schedule: nothing of the kind
    assert not [d for d in found(r, "lr_too_low") if "lr_at_end" in d["evidence"]]


@pytest.mark.parametrize("family", FAMILIES)
def test_clean_families_stay_quiet_over_a_longer_run(family):
    for seed in range(2):
        r, _ = run(FAMILIES[family](seed=seed), budget=120)
        assert above_info(r) == [], (family, seed)


def test_saturated_gru_hidden_states_are_named():
    problem = gru_problem()
    with torch.no_grad():
        for name, p in problem.model.enc.named_parameters():
            if name.startswith("weight"):
                p.mul_(40.0)  # the encoder's hidden states pinned at +-1
    r, _ = run(problem, budget=5)
    d = [d for d in found(r, "saturated_units") if not d["evidence"].get("recurrent_gain")]  # (the states themselves;
    #   the start checks also name the weights' gain, 40x the default's singular values)
    assert d and d[0]["evidence"]["type"] == "GRU" and d[0]["evidence"]["layer"] == "enc"


@pytest.mark.parametrize("scale,warm,inherited,named", [(14.0, False, (), True), (14.0, True, (), False),
                                                       (80.0, True, (), True),
                                                       (14.0, True, ("saturated_units",), True)])
def test_recurrent_states_on_a_warm_started_stage_are_judged_by_the_general_share(scale, warm, inherited, named):
    # a third of the encoder's states at the rails (x14) is named on fresh weights; on a stage warm-started
    # from another, the stage before may have driven them there by memorising (a clean CTC GRU: 21%), so only
    # the general share (half) judges them there: x80 (70%) is still named, and so is x14 when the stage it
    # started from was saturated too (the init's fault, carried)
    problem = gru_problem()
    with torch.no_grad():
        for name, p in problem.model.enc.named_parameters():
            if name.startswith("weight"):
                p.mul_(scale)
    stage = Stage("next", Goal("train/acc", 2.0, "max"), knobs={}, after=["before"]) if warm else None
    r, _ = run(problem, budget=5, stage=stage, inherited=inherited)
    assert bool(found(r, "saturated_units")) == named


class Rectifier(nn.Module):
    """A hand-written activation: any module type is watched."""

    def forward(self, x):
        return x.clamp(min=0)


def test_dead_units_of_any_module_type_are_named():
    x, y = blobs()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), Rectifier(), nn.Linear(32, 3))
    with torch.no_grad():
        model[0].bias[:24].fill_(-50.0)  # 24 of 32 units never fire
    r, _ = run(tuple_problem(model, x, y, 3), budget=5)
    d = found(r, "dead_units")
    assert d and d[0]["evidence"]["type"] == "Rectifier" and d[0]["evidence"]["dead_fraction"] > 0.6


def test_dead_units_are_info_in_a_stage_that_converges_and_a_warning_in_one_that_fails():
    # most units dead for every example is no fault by itself (a clean DeepSets model keeps most of the
    # units after its pooling dead and converges); in a failed stage it may be why: a warning, dated when seen
    x, y = blobs()
    outcomes = {}
    for target in (0.0, 2.0):  # met at the first evaluation / never met
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))
        with torch.no_grad():
            model[0].bias[:24].fill_(-50.0)
        r, outcome = run(tuple_problem(model, x, y, 3), budget=5, target=target)
        outcomes[target] = (outcome.converged, [(d["severity"], d["iteration"]) for d in r.stage.diagnoses
                                                if d["code"] == "dead_units"])
    assert outcomes[0.0] == (True, [("info", 1)])
    assert outcomes[2.0] == (False, [("info", 1), ("warning", 1)])


class Detached(nn.Module):
    def forward(self, x):
        return x.detach()


def test_dead_units_stay_info_when_an_error_names_the_root_cause_of_the_failure():
    # the same dead units, in a failed stage whose first layer never trains (its output detached): the failure has
    # a named root cause, so the dead units stay the info they were; without it they are the warning, as above
    x, y = blobs()
    for detached in (True, False):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), *([Detached()] if detached else []), nn.Linear(32, 3))
        with torch.no_grad():
            model[0].bias[:24].fill_(-50.0)
        r, outcome = run(tuple_problem(model, x, y, 3), budget=5, target=2.0, after_failure=True)
        dead = [d["severity"] for d in r.stage.diagnoses if d["code"] == "dead_units"]
        root = [d for d in r.stage.diagnoses if d["code"] == "params_not_updating" and d["severity"] == "error"]
        assert not outcome.converged and bool(root) == detached
        assert dead == (["info"] if detached else ["info", "warning"]), detached


def test_dead_channels_in_a_cnn_are_named():
    from test_diag_start import images
    x, y = images()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 64, 4))
    with torch.no_grad():
        model[0].bias[:6].fill_(-100.0)  # 6 of 8 channels never fire
    r, _ = run(tuple_problem(model, x, y, 4), budget=5)
    d = found(r, "dead_units")
    assert d and d[0]["evidence"]["layer"] == "1" and d[0]["evidence"]["units"] == 8


def test_dropout_and_zero_initialised_layers_are_not_dead():
    x, y = blobs()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Dropout(0.9), nn.Linear(32, 3))
    with torch.no_grad():
        model[3].weight.zero_()
        model[3].bias.zero_()
    r, _ = run(tuple_problem(model, x, y, 3), budget=60, batch_size=8)
    assert found(r, "dead_units") == []


def test_an_encoder_with_a_padding_mask_is_watched_without_its_nested_eval_outputs():
    # nn.TransformerEncoder's fast path returns a nested tensor (no .shape) in eval mode under no_grad
    layer = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True)
    model = nn.TransformerEncoder(layer, 2, enable_nested_tensor=True).eval()
    x = torch.randn(4, 6, 16)
    pad = torch.zeros(4, 6, dtype=torch.bool)
    pad[:, 4:] = True
    h = HealthMonitor(HealthConfig())
    h.arm(model)
    with torch.no_grad():
        out = model(x, src_key_padding_mask=pad)
    assert out.is_nested or h.acts == {}  # (whichever torch does) the evaluation is not the sampled step
    assert h.acts == {}
    model.train()
    model(x, src_key_padding_mask=pad).sum().backward()  # the training step is
    assert h.acts and all(not y.is_nested for _, y in h.acts.values())
    h.disarm()


def test_a_monitor_that_raises_stops_watching_and_the_stage_trains_on():
    class Broken:
        calls = 0

        def after_backward(self, run, loss):
            Broken.calls += 1
            if run.iteration == 3:
                raise RuntimeError("NestedTensorImpl doesn't support sizes")

        def on_eval(self, run, metrics):
            raise AssertionError("dropped: never called again")

    import tempfile
    from pathlib import Path

    from orchestrator.config import OptimConfig
    from orchestrator.ladder import Goal, Stage
    from orchestrator.trainer import StageRun, TrainSettings, train
    from test_diag_start import MLP, Sinks
    x, y = blobs()
    settings = TrainSettings(budget=20, lr=1e-3, batch_size=16, optim=OptimConfig(), seed=0, eval_every=10,
                             patience=0, histograms_every=0, checkpoint_secs=1e9)
    r = StageRun(stage=Stage("s", Goal("train/acc", 2.0, "max"), knobs={}), problem=tuple_problem(MLP(), x, y, 3),
                 settings=settings, sinks=Sinks(), ckpt_dir=Path(tempfile.mkdtemp()), monitors=[Broken()])
    outcome = train(r)
    assert outcome.iterations == 20 and Broken.calls == 4
    d = [d for d in r.stage.diagnoses if d["code"] == "check_skipped" and d["evidence"].get("check") == "Broken"]
    assert len(d) == 1 and "iteration 3" in d[0]["message"] and "NestedTensorImpl" in d[0]["message"]


class DeadDecoder(nn.Module):
    """A VAE-like split: the encoder is trained by a penalty of its own, the decoder's first layer is all
    zero, so no gradient reaches the decoder's last weight."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(8, 16)
        self.dec_in = nn.Linear(16, 16)
        self.dec_out = nn.Linear(16, 3)
        with torch.no_grad():
            self.dec_in.weight.zero_()
            self.dec_in.bias.zero_()

    def forward(self, x):
        h = self.enc(x)
        self.penalty = h.pow(2).mean()
        return self.dec_out(torch.relu(self.dec_in(h)))


def test_a_last_layer_without_gradient_is_no_explosion():
    # the first/last gradient ratio has no scale when the last layer's gradient is exactly 0 (a dead path,
    # params_not_updating's business): it used to read as an infinite ratio, exploding_gradients at step 1
    import torch.nn.functional as F
    x, y = blobs()
    torch.manual_seed(0)
    model = DeadDecoder()
    problem = tuple_problem(model, x, y, 3, loss_fn=lambda out, t: F.cross_entropy(out, t) + 0.01 * model.penalty)
    r, _ = run(problem, budget=5, target=2.0)
    assert found(r, "exploding_gradients") == []


class _Unlistable(tuple):
    """An output the health hooks cannot walk (its iteration raises): a user's own container type."""

    def __iter__(self):
        raise RuntimeError("this output cannot be iterated")


def test_a_forward_hook_that_raises_drops_the_monitor_not_the_training(tmp_path):
    import math

    import torch.nn.functional as F

    from orchestrator.task import Problem
    from test_diagnostics import cfg, run_stage, settings, stage

    x, y = blobs()

    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))

        def forward(self, x):
            return _Unlistable((self.net(x),))

    torch.manual_seed(0)
    problem = Problem(model=Odd(), train_size=len(x), get_batch=lambda idx: (x[idx], y[idx]),
                      loss=lambda m, b: F.cross_entropy(m(b[0])[0], b[1]),
                      evaluate=lambda m: {"train/acc": (m(x)[0].argmax(-1) == y).float().mean().item()},
                      chance_loss=math.log(3))
    r, outcome, _ = run_stage(tmp_path, problem, cfg(), st=stage(0.9), s=settings(budget=100))
    assert outcome.converged  # the training went on without the health monitor
    d = next(d for d in r.stage.diagnoses if d["code"] == "check_skipped" and "HealthMonitor" in d["message"])
    assert "cannot be iterated" in d["message"]


@pytest.mark.parametrize("family,budget", [("gru", 120), ("transformer", 120), ("gru", 2000)])
def test_an_lr_thousands_of_times_below_the_threshold_is_named_at_the_second_update_sample(family, budget):
    # 10,000x below the probe's threshold and crawling: said at iteration 50 (the health monitor's second update
    # sample; in a long stage, one taken for this rule alone), once, not after the stage's budget; the failure
    # checks do not say it again
    r, outcome = run(FAMILIES[family](), budget=budget, lr=1e-5, after_failure=True, probe={"threshold": 0.1})
    d = found(r, "lr_too_low")
    assert not outcome.converged and len(d) == 1 and d[0]["iteration"] == 50, above_info(r)
    assert "first 50 iterations" in d[0]["message"] and float(d[0]["evidence"]["below_threshold"]) >= 3000
    # and the stage ends at its next evaluation (every 10 here), for the ladder to decide, not after its budget
    assert outcome.iterations == 60 and "lr_too_low at iteration 50" in outcome.reason, outcome
    if budget == 2000:
        return  # the control below is the 120-iteration case's
    r, _ = run(FAMILIES[family](), budget=120, lr=1e-3, after_failure=True, probe={"threshold": 0.1})  # 100x: usual
    assert not [x for x in found(r, "lr_too_low") if x["iteration"] <= 50], above_info(r)


class Gated(nn.Module):
    """An MLP whose hidden units pass through a learnt sigmoid gate (squeeze-and-excitation's form): `open_by`
    puts every gate at the rails, as training puts the gates of a net that memorised its examples."""

    def __init__(self, open_by: float = 0.0):
        super().__init__()
        self.fc, self.gate_in, self.gate, self.out = nn.Linear(8, 32), nn.Linear(8, 32), nn.Sigmoid(), nn.Linear(32, 3)
        with torch.no_grad():
            self.gate_in.weight.mul_(0.1)  # the gates near their middle ...
            self.gate_in.bias.fill_(open_by)  # ... unless opened

    def forward(self, x):
        return self.out(torch.relu(self.fc(x)) * self.gate(self.gate_in(x)))


@pytest.mark.parametrize("warm,inherited,target,severity", [
    (False, (), 0.0, "warning"),                     # fresh weights at the rails: the init's fault, at once
    (True, (), 0.0, "info"),                         # trained there by the stage before, and this one converges
    (True, (), 2.0, "warning"),                      # ... and this one fails: maybe why, dated when seen
    (True, ("saturated_units",), 0.0, "warning")])   # the stage before had it from its start: carried
def test_gates_at_the_rails_are_a_fault_on_fresh_weights_and_a_state_after_training(warm, inherited, target,
                                                                                   severity):
    x, y = blobs()
    torch.manual_seed(0)
    problem = tuple_problem(Gated(open_by=8.0), x, y, 3)

    def stage():
        return Stage("next", Goal("train/acc", target, "max"), knobs={}, after=["before"] if warm else None)
    r, outcome = run(problem, budget=20, stage=stage(), inherited=inherited)
    got = [d for d in r.stage.diagnoses if d["code"] == "saturated_units"]
    assert got and got[-1]["severity"] == severity, got
    assert got[-1]["evidence"]["layer"] == "gate" and got[-1]["iteration"] == 1
    assert outcome.converged == (target == 0.0)
    # gates that are not at the rails say nothing, whatever the stage
    torch.manual_seed(0)
    r, _ = run(tuple_problem(Gated(), x, y, 3), budget=20, stage=stage(), inherited=inherited)
    assert not [d for d in r.stage.diagnoses if d["code"] == "saturated_units"]


def test_a_layer_that_no_gradient_reaches_between_healthy_ones_is_named_at_init():
    # every weight N(0, 0.003) in a causal LM whose attention has its own q and k (holdout41's rotword: normal_(std=
    # 0.02) on every parameter, LayerNorm gains included): q and k get ~1e-8 of the median layer's gradient, relative
    # to their weights, while the embeddings and the head (the first/last ratio) look fine
    from diag_families import lm_problem
    for seed in range(3):
        problem = lm_problem(seed=seed)
        for p in problem.model.parameters():
            nn.init.normal_(p, std=0.003)
        r, _ = run(problem, budget=20, stage=Stage("s", Goal("val/loss", 0.0, "min"), knobs={}))
        d = [d for d in found(r, "vanishing_gradients") if "share" in d["evidence"]]
        assert d and d[0]["evidence"]["layer"] in ("q.weight", "k.weight") and d[0]["evidence"]["share"] < 1e-7
        assert d[0]["iteration"] == 1
    for seed in range(5):  # the same model as built: its lowest layer is ~1e-2 of the median
        r, _ = run(lm_problem(seed=seed), budget=20, stage=Stage("s", Goal("val/loss", 0.0, "min"), knobs={}))
        assert not [d for d in found(r, "vanishing_gradients") if "share" in d["evidence"]], seed


@pytest.mark.parametrize("family", FAMILIES)
def test_an_adam_eps_that_dwarfs_the_gradients_is_named_lr_too_low_at_the_first_step(family):
    # Adam(eps=1.0), a TensorFlow recipe's epsilon (holdout43's churn): each step ~LR x gradient, so the first one
    # moves the weights by a small share of the LR per element instead of ~1x; eps left at PyTorch's default: ~1x
    from orchestrator.config import OptimConfig
    r, _ = run(FAMILIES[family](), budget=20, optim=OptimConfig(_target_="torch.optim.Adam", args={"eps": 1.0}))
    d = [d for d in found(r, "lr_too_low") if "first_step_over_lr" in d["evidence"]]
    assert d and d[0]["evidence"]["first_step_over_lr"] < 0.1 and d[0]["iteration"] == 1, above_info(r)
    for seed in range(5):
        r, _ = run(FAMILIES[family](seed=seed), budget=20)
        assert not [d for d in r.stage.diagnoses if "first_step_over_lr" in d["evidence"]], seed


def test_a_warm_up_that_keeps_the_lr_far_below_the_one_set_is_named_lr_too_low():
    # LinearLR over 100,000 steps (a warm-up written in examples, holdout43's swappairs): the updates use ~1e-6 for
    # an LR set at 3e-3, 33x below the probe's threshold; judged on the LR used, not the one set
    from orchestrator.config import OptimConfig, SchedulerConfig

    def warm_up(iters):
        return OptimConfig(scheduler=SchedulerConfig(_target_="torch.optim.lr_scheduler.LinearLR",
                                                     args={"start_factor": 0.001, "total_iters": iters}))
    probe = {"threshold": 0.1}
    r, _ = run(FAMILIES["mlp"](), budget=60, lr=3e-3, optim=warm_up(100_000), after_failure=True, probe=probe)
    d = [d for d in found(r, "lr_too_low") if "below_threshold" in d["evidence"]]
    assert d and "schedule kept it below" in d[0]["message"] and d[0]["evidence"]["below_threshold"] > 3000
    r, _ = run(FAMILIES["mlp"](), budget=60, lr=3e-3, optim=warm_up(10), after_failure=True, probe=probe)
    assert not [d for d in found(r, "lr_too_low") if "below_threshold" in d["evidence"]]
