"""The forty-seventh held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from README.md and docs/diagnostics.md alone, without reading the diagnostics' source, the policy or the
tests: four new models on new synthetic data and new variations of mistakes ML engineers make. `named`/`root` use the
public codes (VOCABULARY); a code that describes a real consequence of the bug counts as named. Decided and committed
before the suite was first run on a bug. Clean models in a plain PyTorch loop (calibrate.py: the family's Adam LR,
batch 32, seed 0, the full training set): yields validation R^2 0.80 / 0.82 / 0.84 / 0.89 / 0.91 after 100 / 200 /
400 / 800 / 1600 steps; segments validation accuracy 0.48 / 0.70 / 0.91 / 0.967 / 0.972 after 100 / 200 / 400 / 800 /
1600; numwords validation token accuracy 0.91 / 0.98 / 0.975 / 0.9997 (exact 0.59 / 0.91 / 0.88 / 0.998) after 100 /
200 / 400 / 800; repeats validation accuracy 0.66 / 0.93 / 0.990 / 0.994 / 0.999 after 100 / 200 / 400 / 800 / 1200,
and 0.999 when each position is tagged from its prefix alone. Bug consequences measured in the same loop before the
commit are noted in `what`.
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("yields", "segments", "numwords", "repeats")

BUGS: tuple[Bug, ...] = (
    _bug("yields", "shuffled_apart", "data", "labels_not_learnable",
         "y_tr = y[:N][rng.permutation(N)]: the training targets shuffled with a permutation of their own, the inputs "
         "with another; training R^2 0.01 / 0.04 / 0.38 after 100 / 400 / 1600 steps (memorising), validation R^2 "
         "-0.01 / -0.06 / -0.25"),
    _bug("yields", "unsqueezed_mse", "loss", "batch_dependence loss_mismatch",
         "pred = model(x) without .squeeze(-1) in a hand-written ((pred - y) ** 2).mean(): (B, 1) against (B,) "
         "broadcasts to (B, B), every prediction scored against every target (no PyTorch warning, the loss is not "
         "mse_loss); training and validation R^2 0.01-0.02 through 1600 steps (the model predicts the mean)"),
    _bug("yields", "uniform_default", "init", "bad_init_loss exploding_gradients nonfinite",
         "nn.init.uniform_(layer.weight) on every Linear, the bounds forgotten (U(0, 1)): all-positive weights, "
         "first loss 1.5e7 (chance 1.0); validation R^2 -1e6 / -481 / -71 after 100 / 400 / 1600 steps",
         root="bad_init_loss"),
    _bug("yields", "tanh_head", "structure", "saturated_units overfit_batch_size_1 loss_floor",
         "torch.tanh on the output of a regressor whose standardised targets exceed 1 in a third of the examples: "
         "validation R^2 0.68 / 0.70 / 0.76 after 100 / 400 / 1600 steps (clean 0.80 / 0.84 / 0.91), training R^2 "
         "0.81 at 1600 (clean 0.98)"),
    _bug("yields", "multistep_per_iteration", "hyperparameter", "lr_too_low",
         "MultiStepLR(milestones=[30, 60], gamma=0.1) (meant in epochs) stepped every iteration: the LR is 3e-5 from "
         "step 60 on; plain loop: validation R^2 0.52 / 0.57 / 0.73 after 100 / 400 / 1600 steps (clean 0.80 / 0.84 / "
         "0.91)",
         overrides=["optim.scheduler._target_=torch.optim.lr_scheduler.MultiStepLR",
                    "+optim.scheduler.args.milestones=[30,60]", "+optim.scheduler.args.gamma=0.1"]),

    _bug("segments", "mirror_augment", "data", "labels_not_learnable",
         "random horizontal flips in get_batch (an augmentation habit from natural images): a mirrored seven-segment 2 "
         "is a 5 and a mirrored 5 a 2, so half of each is taught the other's label; validation accuracy 0.49 / 0.64 / "
         "0.83 / 0.88 after 100 / 400 / 800 / 1600 steps (clean 0.48 / 0.91 / 0.967 / 0.972)"),
    _bug("segments", "nll_on_softmax", "loss", "loss_mismatch loss_floor overfit_batch_size_1",
         "F.nll_loss(F.softmax(logits, -1), y): softmax where log_softmax was meant, the loss is minus the target's "
         "probability; first loss -0.1; accuracy 0.30 / 0.40 / 0.40 / 0.40 after 100 / 400 / 800 / 1600 steps"),
    _bug("segments", "bn_gamma_zero", "init", "params_not_updating dead_units",
         "nn.init.zeros_(bn.weight): ResNet's zero-gamma trick in a net without residual connections; the BatchNorm "
         "outputs 0 before a ReLU, so nothing before it gets a gradient and the head sees zeros; accuracy 0.10-0.11 "
         "(chance) through 1600 steps, loss 2.30"),
    _bug("segments", "head_weight_not_parameter", "layer", "params_not_updating",
         "self.weight = torch.zeros(64, 10, requires_grad=True) in the hand-written head where nn.Parameter was "
         "meant: never in the optimizer, stays zero, and blocks every gradient to the layers below (only the head's "
         "bias learns); accuracy 0.11 (chance) through 800 steps"),
    _bug("segments", "adam_lr_0.1", "hyperparameter", "lr_too_high",
         "optim.lr=0.1 (for Adam at 0.003) on the BatchNorm CNN, which stays finite there; plain loop: validation "
         "accuracy 0.19 / 0.33 / 0.39 / 0.47 after 100 / 400 / 800 / 1600 steps", overrides=["optim.lr=0.1"]),

    _bug("numwords", "length_minus_one", "data", "labels_not_learnable",
         "lengths = (src != PAD).sum(1) - 1 (as if each source ended in an EOS it does not have): the packed encoder "
         "never reads the last word (\"forty two\" reads as \"forty\"); validation token accuracy 0.78 / 0.79 / 0.78 and "
         "exact 0.08 / 0.08 / 0.05 after 100 / 400 / 800 steps (clean 0.91 / 0.975 / 0.9997, exact 0.59 / 0.88 / "
         "0.998)"),
    _bug("numwords", "scored_on_decoder_input", "loss", "loss_mismatch leakage",
         "F.cross_entropy(logits, tgt_in) where tgt was meant: the decoder is taught to repeat the token it is fed; "
         "training loss 0.002 / 0.0001 after 100 / 800 steps while token accuracy against the real targets is 0.06"),
    _bug("numwords", "uniform_1_everywhere", "init", "bad_init_loss saturated_units vanishing_gradients "
         "exploding_gradients",
         "for p in self.parameters(): nn.init.uniform_(p, -1, 1) (uniform(-0.08, 0.08) was meant): LSTM gates and "
         "the output layer ~11x their default scale; first loss 5.2 (chance 2.4); validation token accuracy 0.40 / "
         "0.65 / 0.78 and exact 0.0 / 0.085 / 0.245 after 100 / 400 / 800 steps (clean 0.91 / 0.975 / 0.9997)",
         root="bad_init_loss saturated_units"),
    _bug("numwords", "state_not_passed", "structure", "params_not_updating labels_not_learnable",
         "self.dec(self.tgt_emb(tgt_in)) without the encoder's state: the decoder never sees the source, the encoder "
         "gets no gradient; validation token accuracy 0.27 / 0.27 / 0.25, exact 0, through 800 steps"),
    _bug("numwords", "adadelta_at_adam_lr", "hyperparameter", "lr_too_low",
         "optim._target_=torch.optim.Adadelta keeping Adam's LR 0.003 (Adadelta's own default is 1.0); plain loop: "
         "loss 2.565 -> 2.515 and validation token accuracy 0.10 / 0.18 / 0.20 after 100 / 400 / 800 steps",
         overrides=["optim._target_=torch.optim.Adadelta"]),

    _bug("repeats", "tags_shifted", "data", "labels_not_learnable",
         "t = t[1:] + [-100]: a language model's target shift applied to a tagging task, each position tagged with "
         "the next one's tag (a token the causal model has not seen); validation accuracy 0.55 / 0.57 / 0.56 after "
         "100 / 400 / 800 steps"),
    _bug("repeats", "mask_lower_triangle", "mask", "leakage labels_not_learnable",
         "ones(L, L).tril(-1) where .triu(1) was meant: each position may read itself and the future, never the "
         "past, so how often its token appeared before cannot be known; validation accuracy 0.60 / 0.60 / 0.59 after "
         "100 / 400 / 800 steps"),
    _bug("repeats", "softmax_over_queries", "layer", "leakage",
         "scores.softmax(-2) where -1 was meant: each key's weights are normalised over the queries, so a position's "
         "output depends on the scores of later positions; validation accuracy 0.88 / 0.970 / 0.963 / 0.991 after "
         "100 / 400 / 800 / 1200 steps (clean 0.66 / 0.990 / 0.994 / 0.999), and 0.67 when each position is tagged "
         "from its prefix alone (clean 0.999): useless for streaming"),
    _bug("repeats", "heads_split_without_transpose", "layer", "leakage labels_not_learnable",
         "x.reshape(B, heads, L, d) where reshape(B, L, heads, d).transpose(1, 2) was meant: each head's \"positions\" "
         "are slices of several positions' features, so the causal mask no longer lines up with time; validation "
         "accuracy 0.60 / 0.72 / 0.87 after 100 / 400 / 800 steps (clean 0.66 / 0.990 / 0.994)"),
    _bug("repeats", "lr_2e-5", "hyperparameter", "lr_too_low",
         "optim.lr=2e-5 (a fine-tuning recipe's LR for training from scratch; the family's Adam LR is 0.001); plain "
         "loop: validation accuracy 0.47 / 0.57 / 0.60 after 100 / 400 / 800 steps", overrides=["optim.lr=2e-5"]),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
assert len(BUGS) == 20 and all(sum(b.family == f for b in BUGS) == 5 for f in FAMILIES)
