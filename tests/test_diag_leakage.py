"""Too good to be true: validation loss below the best loss a correct model can reach (`leakage`), and
perfect validation accuracy on labels a constant predicts (`trivial_labels`)."""
from __future__ import annotations

import torch

from diag_families import Sinks, lm_problem, mlp_problem

from orchestrator import diagnostics
from orchestrator.config import OptimConfig, RunConfig
from orchestrator.diagnostics.config import DiagnosticsConfig, LeakageConfig
from orchestrator.diagnostics.leakage import LeakageCheck
from orchestrator.ladder import Goal, Stage
from orchestrator.trainer import StageRun, TrainSettings, train

torch.set_num_threads(1)


def run_for(problem, tmp_path, budget=300, lr=3e-3):
    st = Stage("s", Goal("val/loss", 0.0, "min"), knobs={})
    s = TrainSettings(budget=budget, lr=lr, batch_size=32, optim=OptimConfig(), seed=0, eval_every=50,
                      patience=0, histograms_every=0, checkpoint_secs=1e9)
    c = RunConfig(task=None, diagnostics=DiagnosticsConfig())
    run = StageRun(stage=st, problem=problem, settings=s, sinks=Sinks(), ckpt_dir=tmp_path,
                   monitors=diagnostics.monitors_for(c, st, problem))
    train(run)
    return st


def codes(st):
    return [d["code"] for d in st.diagnoses]


def test_an_lm_that_sees_the_future_is_leakage(tmp_path):
    st = run_for(lm_problem(causal=False), tmp_path, budget=150)  # the mask forgotten: each position sees its target
    assert codes(st).count("leakage") == 1  # once per stage, at its start
    d = next(d for d in st.diagnoses if d["code"] == "leakage")
    assert d["severity"] == "error" and d["evidence"]["check"] == "future" and d["iteration"] == 0
    c = RunConfig(task=None, diagnostics=DiagnosticsConfig())  # the loss below best_loss says so too, later
    problem = lm_problem(causal=False)
    problem.get_batch = lambda idx, get=problem.get_batch: get(idx)[:, :2]  # too short to test positions
    st = Stage("s", Goal("val/loss", 0.0, "min"), knobs={})
    check = [m for m in diagnostics.monitors_for(c, st, problem) if isinstance(m, LeakageCheck)][0]
    run = StageRun(stage=st, problem=problem, settings=None, sinks=Sinks(), ckpt_dir=tmp_path)
    check.on_eval(run, {"val/loss": 0.5 * problem.best_loss})
    d = st.diagnoses[0]
    assert d["code"] == "leakage" and d["evidence"]["value"] < d["evidence"]["best_loss"]


def test_a_future_leak_is_seen_without_best_loss_and_causal_models_pass():
    from diag_families import seq2seq_problem
    from orchestrator.diagnostics.future import future_leak
    for seed in range(3):
        leaky, clean, s2s = lm_problem(seed, causal=False), lm_problem(seed), seq2seq_problem(seed)
        for p in (leaky, clean, s2s):
            p.best_loss = None
        batch = leaky.get_batch(torch.arange(16))
        d = future_leak(leaky, leaky.model, batch)
        assert d is not None and d.code == "leakage" and d.evidence["first_position_moved"] < d.evidence["changed_from"]
        assert future_leak(clean, clean.model, clean.get_batch(torch.arange(16))) is None
        assert future_leak(s2s, s2s.model, s2s.get_batch(torch.arange(16))) is None
    # a decoder fed its targets unshifted (tgt_in sliced like tgt_out): position t reads its own answer
    s2s = seq2seq_problem(0)
    b = s2s.get_batch(torch.arange(16))
    d = future_leak(s2s, s2s.model, {**b, "tgt_in": b["tgt_out"].clone()})
    assert d is not None and d.evidence["inputs"] == {"tgt_in": "target t at column t+0"}
    # ... or shifted left (t[1:] + [PAD] where [BOS] + t[:-1] was meant): position t reads the next answer, and its
    # own one step before (holdout38's wordflip)
    ahead = torch.cat([b["tgt_out"][:, 1:], torch.zeros_like(b["tgt_out"][:, :1])], 1)
    d = future_leak(s2s, s2s.model, {**b, "tgt_in": ahead})
    assert d is not None and d.evidence["inputs"] == {"tgt_in": "target t at column t-1"}
    # ... but a source equal to the targets is a copy task, whatever the encoder sees, shifted left too
    assert future_leak(s2s, s2s.model, {**b, "src": b["tgt_out"].clone()}) is None
    assert future_leak(s2s, s2s.model, {**b, "src": ahead}) is None



def answer_only(problem, scored=3, vocab=8):
    """The LM scored on its last `scored` targets alone, as a prompt whose answer comes at the end (the others -100)."""
    import dataclasses
    import torch.nn.functional as F

    def targets(b):
        t = b[:, 1:].clone()
        t[:, :-scored] = -100
        return t

    return dataclasses.replace(problem, targets=targets, best_loss=None,
                               loss=lambda m, b: F.cross_entropy(m(b[:, :-1]).reshape(-1, vocab),
                                                                 targets(b).reshape(-1)))


def test_a_leak_into_an_answer_scored_only_at_the_end_is_seen():
    # the scored positions all lie after the middle of the sequence: the targets are changed from the middle of
    # the scored ones, so that some scored output comes before the change (holdout32's revlm)
    from orchestrator.diagnostics.future import future_leak
    for seed in range(3):
        leaky, clean = answer_only(lm_problem(seed, causal=False)), answer_only(lm_problem(seed))
        d = future_leak(leaky, leaky.model, leaky.get_batch(torch.arange(8)))
        assert d is not None and d.code == "leakage" and d.evidence["changed_from"] > 8, seed
        assert future_leak(clean, clean.model, clean.get_batch(torch.arange(8))) is None, seed

def test_next_step_regression_on_a_series_that_sees_its_future_is_leakage():
    # a series' past values in, the next values out: column t+1 of the input is target t. A causal model passes;
    # one whose mask lets position t read t+1 (or one with no mask) copies its answer
    import math

    import torch.nn.functional as F
    from torch import nn

    from orchestrator.diagnostics.future import future_leak
    from orchestrator.task import Problem

    class SeriesModel(nn.Module):
        def __init__(self, causal: bool):
            super().__init__()
            self.inp, self.out, self.causal = nn.Linear(1, 16), nn.Linear(16, 1), causal
            self.layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True)

        def forward(self, x):  # (B, T) -> (B, T)
            t = x.shape[1]
            mask = nn.Transformer.generate_square_subsequent_mask(t) if self.causal else None
            return self.out(self.layer(self.inp(x.unsqueeze(-1)), src_mask=mask)).squeeze(-1)

    g = torch.Generator().manual_seed(0)
    series = torch.sin(torch.linspace(0, 12, 25) + 6 * torch.rand(32, 1, generator=g))
    x, y = series[:, :-1], series[:, 1:]
    for causal in (True, False):
        torch.manual_seed(0)
        p = Problem(model=SeriesModel(causal), train_size=32, get_batch=lambda idx: (x[idx], y[idx]),
                    loss=lambda m, b: F.mse_loss(m(b[0]), b[1]), evaluate=lambda m: {}, chance_loss=math.nan)
        d = future_leak(p, p.model, p.get_batch(torch.arange(16)))
        assert (d is not None and d.code == "leakage") == (not causal), causal


def test_a_flipped_boolean_causal_mask_is_leakage_though_eval_mode_gives_nan():
    # torch.tril(ones, bool) read as "True = may attend": it hides the past and lets each position read the future;
    # the last position sees nothing, which eval mode's fused attention turns into NaN for every position two
    # layers on (holdout14's nmt). The training path stays finite and shows the leak; the right mask passes
    import math

    import torch.nn.functional as F
    from torch import nn

    from orchestrator.diagnostics.future import future_leak
    from orchestrator.task import Problem

    class TokenLM(nn.Module):
        def __init__(self, flipped: bool):
            super().__init__()
            self.emb, self.out, self.flipped = nn.Embedding(12, 16), nn.Linear(16, 12), flipped
            self.body = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, 32, dropout=0.1, batch_first=True), 2,
                                              enable_nested_tensor=False)

        def forward(self, x):
            t = x.shape[1]
            ones = torch.ones(t, t, dtype=torch.bool)
            mask = torch.tril(ones) if self.flipped else torch.triu(ones, diagonal=1)
            return self.out(self.body(self.emb(x), mask=mask))

    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 12, (32, 9), generator=g)
    for seed in range(3):
        for flipped in (True, False):
            torch.manual_seed(seed)
            p = Problem(model=TokenLM(flipped), train_size=32,
                        get_batch=lambda idx: (tokens[idx, :-1], tokens[idx, 1:]),
                        loss=lambda m, b: F.cross_entropy(m(b[0]).transpose(1, 2), b[1]), evaluate=lambda m: {},
                        chance_loss=math.log(12))
            p.model.eval()
            with torch.no_grad():  # the premise: eval mode gives no finite output at all under the flipped mask
                finite = bool(torch.isfinite(p.model(tokens[:16, :-1])).any())
            p.model.train()
            assert finite != flipped, (seed, flipped)
            d = future_leak(p, p.model, p.get_batch(torch.arange(16)))
            assert (d is not None and d.code == "leakage") == flipped, (seed, flipped)
            assert p.model.training  # left as it was


def test_a_model_that_mixes_the_batch_is_no_future_leak_and_leaks_are_judged_first():
    # time and batch swapped by a reshape: every output moves with any other example's tokens, the later ones too.
    # Tested one example at a time, nothing moves: batch_dependence is the finding, not leakage
    from test_diag_start import found, run, transformer_problem

    from orchestrator.diagnostics.future import future_leak
    from orchestrator.diagnostics.startchecks import StartChecks
    for seed in range(3):
        p = transformer_problem(seed=seed, bug="mix")
        assert future_leak(p, p.model, p.get_batch(torch.arange(16))) is None, seed
        r, _ = run(transformer_problem(seed=seed, bug="mix"), budget=10)
        assert found(r, "batch_dependence", ("error",)) and not found(r, "leakage"), seed
    # a position that sees later ones also sees the padding a batch adds: the leak is judged before batch dependence
    c = RunConfig(task=None, diagnostics=DiagnosticsConfig())
    problem = lm_problem()
    kinds = [type(m) for m in diagnostics.monitors_for(c, Stage("s", Goal("val/loss", 0.0, "min"), knobs={}), problem)]
    assert kinds.index(LeakageCheck) < kinds.index(StartChecks)


def test_a_model_that_sees_the_future_and_the_padding_names_the_leak_first():
    # no mask at all: outputs move with later tokens (leakage) and with the padding a batch adds (batch dependence,
    # the consequence). The batch-dependence test before the probe stands down; the start checks say it after
    from test_diag_start import Sinks as StartSinks
    from test_diag_start import run, transformer_problem

    from orchestrator.diagnostics import batch_dependence_first
    for seed in range(2):
        problem = transformer_problem(seed=seed, bug="unmasked")
        stage = Stage("s", Goal("train/acc", 2.0, "max"), knobs={})
        settings = TrainSettings(budget=10, lr=3e-3, batch_size=16, optim=OptimConfig(), seed=0)
        batch_dependence_first(DiagnosticsConfig().start, stage, problem, settings, StartSinks())
        assert stage.diagnoses == [], seed
        r, _ = run(transformer_problem(seed=seed, bug="unmasked"), budget=10)
        found = [d["code"] for d in r.stage.diagnoses if d["severity"] == "error"]
        assert found[:2] == ["leakage", "batch_dependence"], (seed, found)


def bare_run(problem):
    st = Stage("s", Goal("val/acc", 1.0), knobs={})
    return StageRun(stage=st, problem=problem, settings=None, sinks=Sinks(), ckpt_dir=None)


def test_perfect_accuracy_on_one_class_is_trivial_labels():
    problem = mlp_problem()
    problem.extras["y_val"] = torch.zeros(64, dtype=torch.long)
    run, check = bare_run(problem), LeakageCheck(LeakageConfig())
    check.on_start(run)
    for _ in range(2):  # once per stage
        check.on_eval(run, {"val/acc": 1.0, "val/loss": 0.01})
    assert codes(run.stage) == ["trivial_labels"] and run.stage.diagnoses[0]["severity"] == "warning"


def test_perfect_accuracy_on_varied_labels_is_fine_and_unknown_labels_are_said_skipped():
    problem = mlp_problem()
    run, check = bare_run(problem), LeakageCheck(LeakageConfig())
    check.on_start(run)
    check.on_eval(run, {"val/acc": 1.0})
    assert codes(run.stage) == []
    del problem.extras["y_val"]
    run, check = bare_run(problem), LeakageCheck(LeakageConfig())
    check.on_start(run)
    check.on_eval(run, {"val/acc": 1.0})
    assert codes(run.stage) == ["check_skipped"] and run.stage.diagnoses[0]["severity"] == "info"


def test_the_built_in_classification_tasks_give_their_validation_labels():
    from stages.digits import DigitsTask
    assert isinstance(DigitsTask().build({"subset": 10}, 0).extras["y_val"], torch.Tensor)


# --- the answer key: the label written into the inputs ------------------------------------------------

def digits_problem(leak=None, n=400):
    from sklearn.datasets import load_digits
    from stages.classification import tensor_problem
    d = load_digits()
    x, y = torch.tensor(d.data[:n], dtype=torch.float32) / 16, torch.tensor(d.target[:n])
    if leak == "one_hot":
        x = torch.cat([x, torch.nn.functional.one_hot(y, 10).float()], 1)
    if leak == "class_id_pixel":  # a marker pixel: the class id drawn into one corner
        x = x.clone()
        x[:, 0] = y.float() / 9
    if leak == "threshold":  # a task whose classes a feature separates by thresholds: no leak
        x = x.clone()
        x[:, 0] = y.float() + torch.rand(len(y), generator=torch.Generator().manual_seed(0))
    model = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    return tensor_problem(model, x[:300], y[:300], x[300:], y[300:], 10)


def start_codes(problem):
    run, check = bare_run(problem), LeakageCheck(LeakageConfig())
    check.on_start(run)
    return run.stage


def test_labels_written_into_the_inputs_are_leakage_at_the_start():
    for leak in ("one_hot", "class_id_pixel"):
        st = start_codes(digits_problem(leak))
        assert codes(st) == ["leakage"], leak
        d = st.diagnoses[0]
        assert d["severity"] == "error" and d["evidence"]["check"] == "answer_key" and d["evidence"]["classes"] == 10
    one_hot = start_codes(digits_problem("one_hot")).diagnoses[0]["evidence"]["keys"]
    assert one_hot["3"] == 64 + 3  # the appended column of class 3


def test_no_answer_key_in_clean_data_a_threshold_task_or_too_few_examples():
    assert codes(start_codes(digits_problem())) == []
    assert codes(start_codes(digits_problem("threshold"))) == []
    few = digits_problem("one_hot", n=320)  # 300 training examples ...
    few.extras["x_train"], few.extras["y_train"] = few.extras["x_train"][:20], few.extras["y_train"][:20]
    assert codes(start_codes(few)) == []    # ... but 20 looked at: about 2 per class, too few to tell a key
    for seed in range(3):
        from diag_families import cnn_problem, lm_problem, seq2seq_problem
        for problem in (mlp_problem(seed), cnn_problem(seed), seq2seq_problem(seed), lm_problem(seed)):
            assert "leakage" not in codes(start_codes(problem))


def test_validation_metrics_equal_to_the_training_ones_at_every_evaluation_are_leakage(tmp_path):
    # evaluate() scores the training tensors twice (the validation split is the training split): train/acc and
    # val/acc agree at every evaluation; a real held-out split (the same family, clean) never does for long
    from stages.classification import tensor_problem
    clean = mlp_problem()
    x, y = clean.extras["x_train"], clean.extras["y_train"]
    leaky = tensor_problem(clean.model, x, y, x, y, 3)
    st = run_for(leaky, tmp_path / "leaky", budget=300, lr=3e-4)
    found = [d for d in st.diagnoses if d["code"] == "leakage"]
    assert len(found) == 1 and found[0]["evidence"]["same_split"] and found[0]["evidence"]["metric"] == "val/acc"
    for seed in range(3):
        st = run_for(mlp_problem(seed=seed), tmp_path / f"clean{seed}", budget=300, lr=3e-4)
        assert "leakage" not in codes(st), seed


def test_a_decoder_input_that_holds_the_targets_is_named_in_namedtuple_batches():
    # holdout44's unzipword: the future-leak check rebuilt its batches with type(batch)(iterable), which a namedtuple
    # does not take, and skipped itself on every stage; the BOS forgotten (tgt_in = the targets) went unnamed
    from collections import namedtuple

    import torch.nn.functional as F

    from diag_families import seq2seq_problem
    Pair = namedtuple("Pair", "src tgt_in tgt_out")
    problem = seq2seq_problem()
    get = problem.get_batch
    problem.get_batch = lambda i: Pair(get(i)["src"], get(i)["tgt_out"].clone(), get(i)["tgt_out"])  # the leak
    problem.forward = lambda m, b: m(b.src, b.tgt_in)
    problem.targets = lambda b: b.tgt_out
    problem.loss = lambda m, b: F.cross_entropy(m(b.src, b.tgt_in).reshape(-1, 12), b.tgt_out.reshape(-1))
    from orchestrator.diagnostics.leakage import sees_the_future
    found = sees_the_future(problem, problem.model)
    assert found is not None and found.code == "leakage", found and found.message
