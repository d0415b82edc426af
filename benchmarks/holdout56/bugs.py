"""The fifty-sixth held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from README.md and docs/diagnostics.md alone (with orchestrator/task.py, the bug-suite harness and holdout51/52
for format), without reading the diagnostics' source, the policy or the tests: new models on new synthetic data and
mistakes a practitioner makes. `named`/`root` use the public codes (VOCABULARY); a code that describes a real
consequence of the bug counts as named. Decided and committed before the suite was first run on a bug (only clean runs
had gone through the CLI, to set the goals). Clean models in a plain PyTorch loop (calibrate.py: the family's optimiser
and LR, batch 32, seed 0, the full training set): pendulum validation R² 0.929 / 0.986 / 0.996 / 0.998 after 100 / 400
/ 800 / 1600 steps (NAdam 0.003); tiles validation accuracy 0.413 / 0.843 / 0.963 / 1.000 (SGD, Nesterov momentum 0.9,
0.02); partition validation token accuracy (greedy) 0.956 / 0.982 / 0.987 at 400 / 800 / 1600, exact 0.902 / 0.957 /
0.968 (RMSprop 0.001; 0.002 was noisier and replaced before any CLI run); stepper validation exact (greedy generation)
0.368 / 0.988 / 1.000 at 100 / 400 / 800 (Adam 0.002, betas 0.9/0.98). Bug consequences measured in the same loop
before the commit are noted in `what`. Candidates measured and replaced because they did not hurt the plain loop:
pendulum `h.detach()` after the first layer (validation R² 0.997 at 1600: random tanh features suffice), tiles
`F.dropout(h, 0.3)` without training=self.training (0.993 at 1600 against 1.000), stepper's fused qkv weight
zero-initialised (the bias kept the gradient flowing: 0.988 at 400) and then weight and bias zeroed (exact 0.32 / 0.89 /
1.0 at 400 / 800 / 1600: slower, but it fits). Kept although mild: partition `final_states_reshaped` (validation token
accuracy 0.968 against 0.987 at 1600, exact 0.910 against 0.968: three times the errors).
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("pendulum", "tiles", "partition", "stepper")

BUGS: tuple[Bug, ...] = (
    _bug("pendulum", "val_targets_unscaled", "data", "labels_not_learnable",
         "the validation targets left in raw units (log seconds, degrees) while the training targets are standardised: "
         "validation R² -2.78 / -2.81 / -2.59 / -2.66 after 100 / 400 / 800 / 1600 steps while training R² reaches 0.998 "
         "(clean validation 0.929 / 0.986 / 0.996 / 0.998)"),
    _bug("pendulum", "mean_before_square", "loss", "loss_mismatch batch_dependence",
         "((pred - y).mean()) ** 2 where ((pred - y) ** 2).mean() was meant: only the batch's mean error is fitted; the "
         "loss goes to 4e-7 while validation R² is 0.33 / 0.32 / 0.37 / 0.35"),
    _bug("pendulum", "tanh_weights_std_1", "init", "saturated_units bad_init_loss vanishing_gradients exploding_gradients",
         "nn.init.normal_(w, std=1.0) on both hidden Linear layers (1/sqrt(fan_in) meant; 14x PyTorch's default on the "
         "64-wide one): tanh units at their rails; first loss 1.93 (clean 1.14); validation R² 0.840 / 0.908 / 0.941 / "
         "0.968 (clean 0.929 / 0.986 / 0.996 / 0.998)", root="saturated_units bad_init_loss"),
    _bug("pendulum", "tanh_on_output", "structure", "loss_floor",
         "torch.tanh on the output layer (the hidden layers' line copied): standardised targets reach +-3 and the outputs "
         "cannot leave (-1, 1); validation R² 0.799 / 0.858 / 0.865 / 0.871"),
    _bug("pendulum", "exp_decay_per_step", "hyperparameter", "lr_too_low",
         "ExponentialLR(gamma=0.95), a per-epoch decay stepped every iteration: the LR is 0.6% of its start after 100 "
         "steps; validation R² 0.888 from step 100 on",
         overrides=["optim.scheduler._target_=torch.optim.lr_scheduler.ExponentialLR",
                    "+optim.scheduler.args.gamma=0.95"]),

    _bug("tiles", "upside_down_augment", "data", "labels_not_learnable",
         "an up-down mirror added to the left-right one in get_batch: it turns an up-triangle into a down-triangle, two "
         "classes, with the label kept; validation accuracy 0.335 / 0.455 / 0.705 / 0.792 after 100 / 400 / 800 / 1600 "
         "(clean 0.413 / 0.843 / 0.963 / 1.000)"),
    _bug("tiles", "nll_on_logits", "loss", "loss_unbounded loss_mismatch nonfinite",
         "F.nll_loss(logits, label) on raw logits (log_softmax forgotten): the loss is minus the target's logit, "
         "unbounded below; NaN by step 100, validation accuracy 0.13 (chance)", root="loss_unbounded loss_mismatch"),
    _bug("tiles", "conv_init_positive", "init", "bad_init_loss dead_units exploding_gradients vanishing_gradients",
         "nn.init.uniform_(w, 0, 0.1) on the three convolutions (uniform_(w, -0.1, 0.1) meant): every filter sums its "
         "window, activations grow layer by layer; first loss 11.2 (chance 2.08), then stuck at chance: validation "
         "accuracy 0.13 / 0.12 / 0.13 / 0.13", root="bad_init_loss"),
    _bug("tiles", "features_detached", "structure", "params_not_updating",
         ".detach() on the flattened conv features (left from a linear-probe experiment): the convolutions never train; "
         "validation accuracy 0.387 / 0.447 / 0.540 / 0.598"),
    _bug("tiles", "clip_norm_1e-3", "hyperparameter", "lr_too_low",
         "optim.clip_norm=0.001 (1.0 meant) under SGD: every step is cut to a thousandth; validation accuracy 0.108 / "
         "0.125 / 0.142 / 0.195", overrides=["optim.clip_norm=0.001"]),

    _bug("partition", "decoder_input_unshifted", "data", "leakage loss_mismatch",
         "the decoder input built like the targets (t + [EOS] where [BOS] + t was meant): the teacher-forced decoder "
         "copies its input, loss 2e-7 at 1600 steps, while greedy decoding gets validation token accuracy 0.246 / 0.241 / "
         "0.238 / 0.234 after 100 / 400 / 800 / 1600 and exact 0 (clean 0.956 / 0.982 / 0.987 at 400 / 800 / 1600)"),
    _bug("partition", "log_softmax_over_time", "loss", "loss_mismatch",
         "F.nll_loss(logits.log_softmax(1)...) on (B, T, V) logits (the classifier habit; dim=-1 meant): normalised over "
         "the positions; validation token accuracy 0.66 / 0.76 / 0.78 / 0.72, exact 0.06-0.11"),
    _bug("partition", "embedding_scaled", "init", "saturated_units bad_init_loss exploding_gradients vanishing_gradients",
         "a Transformer's x sqrt(d_model) (x8) on the N(0, 1) embedding feeding both GRUs: gate pre-activations far "
         "past their rails; validation token accuracy 0.58 / 0.67 / 0.77 / 0.87, exact 0.73 at 1600 (clean 0.968)",
         root="saturated_units bad_init_loss"),
    _bug("partition", "final_states_reshaped", "structure", "batch_dependence",
         "the bidirectional encoder's final states (2, B, H) reshaped to (B, 2H) without transpose(0, 1) first: each "
         "decoder starts from two other examples' halves; validation token accuracy 0.692 / 0.903 / 0.945 / 0.968, exact "
         "0.910 at 1600 (clean 0.987, 0.968)"),
    _bug("partition", "rmsprop_lr_0.03", "hyperparameter", "lr_too_high exploding_gradients nonfinite",
         "optim.lr=0.03 (RMSprop; 0.001 meant): validation token accuracy 0.33 / 0.42 / 0.51 / 0.59, exact 0.28 at 1600",
         root="lr_too_high", overrides=["optim.lr=0.03"]),

    _bug("stepper", "lines_cut_at_12", "data", "labels_not_learnable loss_mismatch",
         "line[:12] in the batch function (a max_len set from the typical line; lines run to 15 tokens): long lines lose "
         "their last answers and EOS; the optimised loss goes to 5e-6 while the evaluation's loss on whole lines rises "
         "(0.75 -> 0.98) and validation exact stays at 0.30 / 0.46 / 0.46 after 100 / 400 / 800 steps (clean 0.368 / 0.988 "
         "/ 1.000)"),
    _bug("stepper", "mask_tril", "mask", "leakage nonfinite unstable_softmax",
         "torch.tril(..., diagonal=-1) where triu(..., diagonal=1) was meant: each position sees itself and the future, "
         "not the past; a padded position's row then has every key masked, NaN from the first forward, and the NaN "
         "reaches the real positions in the next block; loss NaN, accuracy 0", root="leakage nonfinite"),
    _bug("stepper", "norm_over_positions", "layer", "leakage batch_dependence",
         "the hand-written LayerNorm's mean and variance over dim 1 (the positions; -1 meant): each position's features "
         "are normalised with the future's (and the padding's) statistics; teacher-forced accuracy 1.0 while greedy "
         "validation exact is 0.195 / 0.322 / 0.135 after 100 / 400 / 800"),
    _bug("stepper", "normal_std_1_init", "init", "bad_init_loss saturated_units vanishing_gradients exploding_gradients",
         "nn.init.normal_(p, std=1.0) on every matrix (GPT's std=0.02 mistyped; 14x PyTorch's default on the Linear "
         "layers): first loss 11.3 (chance 2.64); validation exact 0.000 / 0.013 / 0.110 / 0.273 after 100 / 400 / 800 / "
         "1600", root="bad_init_loss"),
    _bug("stepper", "adam_lr_0.05", "hyperparameter", "lr_too_high exploding_gradients nonfinite",
         "optim.lr=0.05 (Adam; 0.002 meant): the loss stalls at 1.6-1.9, validation exact 0.0 through 800 steps",
         root="lr_too_high", overrides=["optim.lr=0.05"]),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
assert len(BUGS) == 20 and all(sum(b.family == f for b in BUGS) == 5 for f in FAMILIES)
