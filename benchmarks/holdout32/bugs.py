"""The thirty-second held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source, the policy or the tests: new models
and new variations of the same kinds of mistakes. `named`/`root` use the public codes (VOCABULARY); a code that
describes a real consequence of the bug counts as named. Written and committed before the suite was first run on a
bug; the consequences in `what` were measured in plain PyTorch (the family's optimiser and LR: Adam at 0.003 for
projectile, gratings and rld, at 0.001 for revlm; batch 32, seed 0, 400 steps on the full training set) against the
clean model (projectile validation MSE 0.0063 at 100 steps, 0.0013 at 400, 0.0007 at 1000; gratings validation
accuracy 0.996 / 0.998; rld token accuracy 0.881 / 0.978 / 0.987, exact 0.90 at 400; revlm token accuracy 0.720 /
0.977 / 0.9996, exact 0.90 at 400). "Alone vs batch": the largest and mean absolute difference of the outputs of 16
training examples run alone and inside one batch (eval mode; the clean models: below 3e-6).
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("projectile", "gratings", "rld", "revlm")

BUGS: tuple[Bug, ...] = (
    _bug("projectile", "targets_unscaled", "data", "input_scale",
         "the targets left in metres and seconds (range up to ~50, means 4-20), the inputs standardised: first loss "
         "189 (clean 0.99); validation MSE 12.4 after 100 steps, 0.39 after 400, 0.077 after 1000 (in those units)"),
    _bug("projectile", "loss_on_inputs", "loss", "loss_mismatch",
         "F.mse_loss(model(x), x[:, :3]): the inputs as the target; the optimised loss 1.23 -> 0.0004 in 400 steps "
         "while the training and validation MSE against the real targets stay at 0.83 / 0.86"),
    _bug("projectile", "fc1_std4", "init", "bad_init_loss saturated_units vanishing_gradients",
         "nn.init.normal_(fc1.weight, std=4) (default U(-1/2, 1/2), std 0.29: 14x) before tanh: validation MSE 0.103 "
         "after 100 steps, 0.049 after 400, 0.015 after 1000 (clean 0.0063 / 0.0013 / 0.0007)",
         root="bad_init_loss saturated_units"),
    _bug("projectile", "rmsnorm_over_batch", "layer", "batch_dependence",
         "the hand-written RMSNorm's mean of squares over dim 0 (the batch) instead of -1: validation MSE 0.010 / "
         "0.0045 after 100 / 400 steps (clean 0.0063 / 0.0013); alone vs batch: up to 0.53 (mean 0.27) at init, "
         "1.11 (0.47) after 400 steps"),
    _bug("projectile", "lr_3e-6", "hyperparameter", "lr_too_low",
         "optim.lr=3e-6 (for Adam at 0.003): validation MSE 1.02 after 100 steps, 0.77 after 400 (clean 0.0013)",
         overrides=["optim.lr=3e-6"]),

    _bug("gratings", "val_images_transposed", "data", "labels_not_learnable",
         "the validation images transposed (a split built differently: 0 and 90 degrees swap, 45 and 135 do not), "
         "training untouched; training accuracy 1.0, validation 0.528 after 100 and 400 steps (loss 3.1 / 4.4)"),
    _bug("gratings", "targets_rolled_in_loss", "loss", "labels_not_learnable batch_dependence",
         "F.cross_entropy(logits, y.roll(1, 0)): each image scored against its batch neighbour's class; loss 2.12 -> "
         "2.07, training accuracy 0.155 after 100 steps, 0.0 after 400"),
    _bug("gratings", "bn_gamma_zero", "init", "params_not_updating dead_units",
         "nn.init.zeros_ on every BatchNorm's weight: every BN outputs 0, every ReLU after it dead, the convolutions "
         "and the head's weight get no gradient; loss 2.09 -> 2.09, validation accuracy 0.12 / 0.15 after 100 / 400 "
         "steps (chance 0.125)", root="params_not_updating"),
    _bug("gratings", "residual_adds_input_twice", "structure", "params_not_updating",
         "F.relu(h + h) instead of F.relu(h + r): the residual branch (c1, bn1, c2, bn2) computed but dropped, no "
         "gradient; validation accuracy 0.938 / 0.966 after 100 / 400 steps (clean 0.996 / 0.998; noise std 1.5)"),
    _bug("gratings", "bn_momentum_zero", "structure", "loss_mismatch",
         "nn.BatchNorm2d(..., momentum=0.0): the running statistics never leave mean 0 / variance 1, so eval mode "
         "normalises with the wrong statistics; the training loss 2.10 -> 0.012 (as clean) while the eval-mode training "
         "accuracy is 0.263 / 0.327 and validation 0.264 / 0.326 after 100 / 400 steps"),

    _bug("rld", "lengths_as_width", "mask", "batch_dependence",
         "src_len filled with the batch's padded width: the packed encoder runs over the padding, its final state "
         "depends on how much padding the batch adds; trains (token accuracy 0.989 after 400 steps) but alone vs "
         "batch: up to 0.037 (mean 0.018) at init, 9.0 (mean 3.8) after 400 steps"),
    _bug("rld", "loss_targets_lagged", "loss", "loss_mismatch",
         "F.cross_entropy(logits[:, 1:], tgt[:, :-1]): the output at t+1 scored on the target of t, which is its own "
         "input token tgt_in[t+1]; the optimised loss 2.09 -> 0.0003 in 400 steps while the real token loss rises "
         "3.0 -> 3.6, token accuracy 0.53, exact 0.0"),
    _bug("rld", "decoder_ih_uniform3", "init",
         "bad_init_loss saturated_units vanishing_gradients exploding_gradients",
         "nn.init.uniform_(decoder.weight_ih_l0, -3, 3) (default U(-0.088, 0.088): std 1.73, 34x): the decoder's "
         "gates saturated by the embeddings; token accuracy 0.846 / 0.968 after 100 / 400 steps, exact 0.85 (clean "
         "0.881 / 0.978, 0.90)", root="bad_init_loss saturated_units"),
    _bug("rld", "decoder_state_not_passed", "structure", "params_not_updating",
         "self.decoder(self.tgt_emb(tgt_in)) without the encoder's state: the encoder and the source embedding get "
         "no gradient, the decoder never sees the source; token accuracy 0.51 / 0.50 after 100 / 400 steps, exact "
         "0.02"),
    _bug("rld", "lr_0.3", "hyperparameter", "lr_too_high nonfinite exploding_gradients saturated_units",
         "optim.lr=0.3 (for Adam at 0.003): token accuracy 0.52 / 0.56 after 100 / 400 steps, loss 1.16",
         root="lr_too_high", overrides=["optim.lr=0.3"]),

    _bug("revlm", "pad_mask_dropped", "mask", "batch_dependence",
         "allowed = the causal mask alone: the left padding is attended; trains (token accuracy 1.0 after 400 "
         "steps) but alone vs batch: up to 0.26 (mean 0.14) at init, 9.0 (mean 5.1) after 400 steps"),
    _bug("revlm", "future_masked_with_zero", "mask", "leakage batch_dependence",
         "scores.masked_fill(~allowed, 0.0) instead of -inf: the masked keys (the future, the padding) keep a weight; "
         "teacher-forced accuracy 1.0 after 400 steps (the next input is the answer) and alone vs batch: up to 0.20 "
         "(mean 0.094) at init, 9.1 (mean 4.9) after 400 steps"),
    _bug("revlm", "train_copies_not_reverses", "data", "labels_not_learnable",
         "the training split's answers are the word copied, the validation split's reversed (a split built "
         "differently); training accuracy 0.914 / 1.0, validation 0.268 / 0.236 after 100 / 400 steps (loss 5.7)"),
    _bug("revlm", "qkv_zeroed", "init", "params_not_updating",
         "nn.init.zeros_(qkv.weight) (bias-free) in each block: q = k = 0, uniform causal attention, each blocking "
         "the other's gradient; token accuracy 0.315 / 0.393 after 100 / 400 steps, 0.855 after 1000 (clean 0.720 / "
         "0.977 / 0.9996)"),
    _bug("revlm", "log_softmax_over_positions", "loss", "loss_mismatch loss_floor batch_dependence",
         "logits.log_softmax(1) (over the positions) before nll_loss: the optimised loss 2.60 -> 0.38 in 400 steps "
         "while the real token loss rises 2.36 -> 4.24 and token accuracy stays at 0.08-0.12; the normalisation "
         "depends on the batch's padded width"),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
