"""The forty-sixth held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from README.md and docs/diagnostics.md alone, without reading the diagnostics' source, the policy or the
tests: new models on new synthetic data and mistakes a practitioner makes. `named`/`root` use the public codes
(VOCABULARY); a code that describes a real consequence of the bug counts as named. Decided and committed before the
suite was first run on a bug. Clean models in a plain PyTorch loop (calibrate.py: the family's Adam LR, batch 32,
seed 0, the full training set): ratings validation accuracy 0.51 / 0.60 / 0.79 / 0.79 / 0.87 after 100 / 200 / 400 /
800 / 1600 steps (Adam 0.01); rings validation hit rate (centre within 0.75 px) 0.32 / 0.86 / 0.95 / 0.98 / 0.997;
records validation token accuracy 0.94 / 0.99 / 0.998 / 1.0 after 100 / 200 / 400 / 800; progressions validation
accuracy (predictable next tokens) 0.44 / 0.96 / 1.0 / 1.0 after 100 / 200 / 400 / 800. Bug consequences measured in
the same loop before the commit are noted in `what` (steps 100 / 400 / 800, unless said).
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("ratings", "rings", "records", "progressions")

BUGS: tuple[Bug, ...] = (
    _bug("ratings", "cumulative_ge", "data", "labels_not_learnable loss_mismatch",
         "the cumulative targets built as [stars >= k] where [stars > k] was meant: the first cut point's target is "
         "always 1 and every rating is taught as one star more (the metrics decode and score the true ratings); the "
         "optimised loss falls 0.68 -> 0.07 over 1600 steps while validation accuracy is 0.29 / 0.18 / "
         "0.21 / 0.17 after 100 / 400 / 800 / 1600 and the true-target loss rises 0.46 -> 0.67"),
    _bug("ratings", "sigmoid_then_bce_logits", "loss", "loss_floor overfit_batch_size_1 vanishing_gradients",
         "binary_cross_entropy_with_logits(sigmoid(logits), t): a sigmoid applied twice, so the loss reads "
         "probabilities in (0, 1) as logits and cannot fall below ~0.5 (softplus(-1), softplus(0)); the optimised "
         "loss stays 0.53 after 1600 steps (clean 0.10), its gradient shrinks with sigmoid'; validation accuracy is "
         "about unaffected (0.66 / 0.81 / 0.84 at 400 / 800 / 1600 steps; clean 0.79 / 0.79 / 0.87): the damage is the floor and the "
         "calibration of the probabilities", root="loss_floor overfit_batch_size_1"),
    _bug("ratings", "zero_init_hidden", "init", "params_not_updating dead_units symmetric_units",
         "nn.init.zeros_ on both hidden layers' weights and biases ('zero init is safe'): every hidden unit outputs "
         "0 under a ReLU whose slope at 0 is 0, so nothing but the cut points trains; validation accuracy 0.19 at "
         "100 / 400 / 800 / 1600 steps (the majority rating), loss 0.53"),
    _bug("ratings", "relu_after_head", "structure", "dead_units overfit_batch_size_1 loss_floor",
         "the layer list appends a ReLU after every Linear, the score's too: the score is never negative, so "
         "products whose score should be low all share the floor and the cut points alone separate them (a dead "
         "output for every example below it); validation accuracy 0.36 / 0.60 / 0.65 / 0.74 after 100 / 400 / 800 / "
         "1600 steps (clean 0.51 / 0.79 / 0.79 / 0.87)"),
    _bug("ratings", "adamw_wd_10", "hyperparameter", "lr_too_low loss_floor overfit_batch_size_1 vanishing_gradients",
         "AdamW with weight_decay=10 (meant 1e-2; at LR 0.01 every weight shrinks 10% per step): the weights "
         "cannot grow past the decay; validation accuracy 0.29 / 0.28 / 0.28 / 0.28 after 100 / 400 / 800 / 1600, "
         "loss stuck at 0.52",
         overrides=["optim._target_=torch.optim.AdamW", "+optim.args.weight_decay=10.0"]),

    _bug("rings", "shift_image_only", "data", "labels_not_learnable",
         "the augmentation rolls the image by (dx, dy) in -2..2 but leaves its target where it was: each fetch pairs "
         "the ring with a centre up to 2 px off; validation hit rate 0.31 / 0.59 / 0.54 (clean 0.32 / 0.95 / 0.98)"),
    _bug("rings", "pixels_vs_scaled", "loss", "loss_mismatch bad_init_loss",
         "smooth_l1_loss(pred * 6 + 12, centre): the prediction converted to pixels, the target still scaled to "
         "[-1, 1]: the model learns pred ~ (c - 12) / 6 - 2, which the metrics decode as a centre 12 px off; first "
         "loss 12.1 (clean 0.56), the optimised loss falls to 0.13 while the hit rate is 0.0 / 0.0 / 0.0 and the "
         "metric loss stays ~2.0", root="loss_mismatch bad_init_loss"),
    _bug("rings", "conv_uniform_unit", "init", "bad_init_loss exploding_gradients lr_too_high",
         "nn.init.uniform_(w, -1, 1) on the three convolutions (PyTorch's bound is 1/sqrt(fan_in): 0.33, 0.083, "
         "0.059): activations grow ~12x per layer; first loss 2.34 (clean 0.56); validation hit rate 0.18 / 0.34 / "
         "0.47 (clean 0.32 / 0.95 / 0.98)", root="bad_init_loss exploding_gradients"),
    _bug("rings", "sigmoid_output", "structure", "overfit_batch_size_1 loss_floor",
         "torch.sigmoid on the output (a 'coordinates in [0, 1]' habit) while the targets are in [-1, 1]: no ring "
         "left of or above the centre can be reached; validation hit rate 0.015 / 0.26 / 0.32, MSE 0.17 (clean "
         "0.002)"),
    _bug("rings", "exp_decay_per_step", "hyperparameter", "lr_too_low",
         "ExponentialLR(gamma=0.95) (meant per epoch) stepped every iteration: the LR is 6e-6 after 100 steps; "
         "validation hit rate 0.23 / 0.22 / 0.22 (clean 0.32 / 0.95 / 0.98)",
         overrides=["optim.scheduler._target_=torch.optim.lr_scheduler.ExponentialLR",
                    "+optim.scheduler.args.gamma=0.95"]),

    _bug("records", "tags_left_padded", "data", "labels_not_learnable batch_dependence loss_mismatch",
         "the tag rows padded on the left while the token rows are padded on the right: every string shorter than its "
         "batch's longest gets its tags shifted by the difference (in evaluation too); validation token accuracy "
         "0.54 / 0.61 / 0.63 after 100 / 400 / 800 (clean 0.94 / 0.998 / 1.0)"),
    _bug("records", "time_major_flatten", "loss", "batch_dependence loss_mismatch labels_not_learnable",
         "cross_entropy(logits.transpose(0, 1).reshape(-1, 4), tags.reshape(-1)): the logits flattened time-major, "
         "the tags batch-major, so each output is scored against another string's tag; validation token accuracy "
         "0.54 at 100 / 400 / 800 (the majority tag)"),
    _bug("records", "gru_constant_init", "init",
         "symmetric_units saturated_units exploding_gradients vanishing_gradients bad_init_loss",
         "nn.init.constant_(p, 0.5) on every GRU weight and bias (a 'reproducible' init): every hidden unit of a "
         "direction starts as a copy, and the recurrent blocks (48 x 48 of 0.5, largest singular value 24) drive the "
         "gates to their rails; validation token accuracy 0.67 / 0.88 / 0.985 (clean 0.94 / 0.998 / 1.0)"),
    _bug("records", "bidirectional_forgotten", "structure", "labels_not_learnable",
         "nn.GRU(16, 96) where nn.GRU(16, 48, bidirectional=True) was meant (the width doubled so the head still "
         "fits): no position sees the digits after it, so 'a record from the right' cannot be known; validation token "
         "accuracy 0.78 / 0.80 / 0.80, exact 0.14 (clean 0.94 / 0.998 / 1.0)"),
    _bug("records", "lr_0.3", "hyperparameter", "lr_too_high exploding_gradients nonfinite saturated_units",
         "optim.lr=0.3 (for Adam at 0.003); plain loop: validation token accuracy 0.81 / 0.87 / 0.89",
         overrides=["optim.lr=0.3"]),

    _bug("progressions", "targets_not_shifted", "loss", "loss_mismatch leakage",
         "cross_entropy(logits, b[:, :-1]) where b[:, 1:] was meant: the LM is taught to echo its input token; the "
         "optimised loss falls 2.75 -> 0.0009 while the next-token validation accuracy is 0.0 and the metric loss "
         "rises 6.4 -> 9.6"),
    _bug("progressions", "causal_mask_hides_self", "mask", "nonfinite",
         "ones(l, l).triu(0) where triu(1) was meant: each query is also blocked from its own key, so the first "
         "position may read no key at all: a softmax over a row of -inf, NaN from the first forward; plain loop: loss "
         "NaN, accuracy 0"),
    _bug("progressions", "scale_multiplied", "layer", "saturated_units vanishing_gradients bad_init_loss",
         "attention scores q.k * sqrt(16) where / sqrt(16) was meant (16x too large): near one-hot attention from "
         "the start, slower to learn; validation accuracy 0.65 / 0.95 / 0.98 / 1.0 after 100 / 200 / 400 / 800 "
         "(clean 0.44 / 0.96 / 1.0 / 1.0): the mildest bug of the suite"),
    _bug("progressions", "head_normal_std1", "init", "bad_init_loss",
         "nn.init.normal_(head.weight, 0, 1) (std 1 where PyTorch's default is ~0.07 for 64 inputs, 14x): first "
         "loss 13.9 (chance 2.3, 6x); the plain loop recovers: validation accuracy 0.46 / 1.0 / 1.0 (clean 0.44 / "
         "1.0 / 1.0)"),
    _bug("progressions", "sgd_adam_lr", "hyperparameter", "lr_too_low",
         "the optimiser switched to plain SGD keeping Adam's LR 0.001: validation accuracy 0.094 / 0.101 / 0.101, "
         "loss 2.61 -> 2.45 after 800 steps (clean 1.0)",
         overrides=["optim._target_=torch.optim.SGD"]),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
