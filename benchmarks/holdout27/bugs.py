"""The twenty-seventh held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source or tests: new models and new
variations of the same kinds of mistakes. `named`/`root` use the public codes (VOCABULARY); a code that
describes a real consequence of the bug counts as named. Written and committed before the suite was first run on a
bug; the consequences in `what` were measured in plain PyTorch (the family's optimiser and LR: SGD with momentum 0.9
at 0.02 for energy, Adam at 0.003 for the others; batch 32, seed 0, 400 steps on the full training set, 300 for motif
and its LR, 600 for motif's silent bugs) against the clean model (energy validation R² 0.997 at 400 steps; placedigit
validation accuracy 0.951 at 400 (0.968 at 300); piglatin token accuracy 0.985 at 400; motif 1.0 from 150 steps on).
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("energy", "placedigit", "piglatin", "motif")

BUGS: tuple[Bug, ...] = (
    # loss_mismatch: the code that names a loss not pairing each output with its own target since session 23 (readout.py)
    _bug("energy", "prediction_not_squeezed", "data", "batch_dependence loss_mismatch",
         "the model returns (B, 1) predictions (.squeeze(-1) left out) against (B,) targets: MSELoss broadcasts to "
         "(B, B), every prediction is pulled toward every target; the net predicts the mean, training and validation "
         "R² 0.05 after 400 steps (clean 0.997)"),
    _bug("energy", "val_outdoor_fahrenheit", "data", "labels_not_learnable",
         "the validation table's outdoor temperature in °F while the training table's is in °C (standardised with "
         "the training statistics): a split built differently; training R² 0.998, validation R² -7.7, loss 8.4 after "
         "400 steps"),
    _bug("energy", "features_not_standardised", "data", "input_scale nonfinite lr_too_high exploding_gradients",
         "the raw features (areas of hundreds of m², fractions of 0..0.4, temperatures, head counts) fed to the net, "
         "the standardised copies never used: first loss 140 (targets standardised), NaN within 40 SGD steps",
         root="input_scale"),
    _bug("energy", "mse_size_average_false", "loss", "bad_init_loss lr_too_high nonfinite exploding_gradients",
         "nn.MSELoss(size_average=False), the legacy argument, sums over the batch instead of averaging: steps 32x "
         "larger under SGD with momentum; NaN within 40 steps", root="bad_init_loss lr_too_high"),
    _bug("energy", "lr_1", "hyperparameter", "lr_too_high nonfinite exploding_gradients",
         "optim.lr=1 (for SGD with momentum at 0.02): NaN within 30 steps (0.3 still trains)", root="lr_too_high",
         overrides=["optim.lr=1"]),

    _bug("placedigit", "labels_rolled_by_one", "data", "labels_not_learnable",
         "the labels indexed with idx.roll(1): each canvas carries the previous canvas's digit; training and "
         "validation accuracy 0.11-0.12 after 400 steps (loss 2.30, chance)"),
    _bug("placedigit", "stem_detached", "structure", "params_not_updating",
         "the first two convolutions' maps .detach()ed (kept for a saliency plot): the stem never trains; validation "
         "accuracy 0.84 after 400 steps (clean 0.95)"),
    _bug("placedigit", "pool_softmax_over_batch", "layer", "batch_dependence",
         "the attention pooling's softmax over dim 0 (the batch) instead of dim 1 (the positions): each canvas's "
         "pooled vector depends on its batch-mates; training accuracy 0.90 in batches but validation 0.73, loss 1.87 "
         "after 400 steps"),
    _bug("placedigit", "conv_normal_init", "init", "bad_init_loss exploding_gradients saturated_units dead_units "
         "vanishing_gradients nonfinite",
         "nn.init.normal_ on every convolution weight (std 1: 5x, 21x and 29x PyTorch's default): first loss 430 "
         "(chance log 10 = 2.3); accuracy 0.12 after 400 steps", root="bad_init_loss"),
    _bug("placedigit", "loss_on_quadrant", "loss", "loss_mismatch labels_not_learnable",
         "the loss takes b[-1] (the quadrant, 0..3, kept for a localisation report) as its target instead of b[1] "
         "(the digit): the optimised loss falls to 0.02 while the task's training loss rises to 24 and accuracy "
         "stays at 0.10 after 400 steps", root="loss_mismatch"),

    _bug("piglatin", "encoder_not_batch_first", "structure", "batch_dependence",
         "nn.GRU(E, H) for the encoder, batch_first=True left out: the batch-first source is read as time-first, the "
         "encoder runs across the examples of the batch; validation token accuracy 0.71, exact 0.08 after 400 steps "
         "(clean 0.985, 0.88)"),
    _bug("piglatin", "nll_on_raw_logits", "loss", "loss_unbounded",
         "F.nll_loss on the raw logits (no log_softmax): the loss is linear in the logits and unbounded below (-311 "
         "after 400 steps) while the true cross-entropy is 11.9 and accuracy 0.39"),
    _bug("piglatin", "head_built_in_forward", "structure", "params_not_updating",
         "self.out = nn.Linear(...) assigned inside forward: each call draws a new output layer, the optimiser holds "
         "the first one only; token accuracy 0.05 after 400 steps (chance)"),
    _bug("piglatin", "pad_mask_off_by_one", "mask", "batch_dependence",
         "the padding mask written positions > src_len instead of >=: every source shorter than the batch's longest "
         "also attends to its first PAD, so an output depends on the batch it is in; trains as the clean model "
         "(0.984 after 400 steps): silently batch-dependent"),
    _bug("piglatin", "lr_3e-7", "hyperparameter", "lr_too_low",
         "optim.lr=3e-7 (for Adam at 0.003): loss 3.20 -> 3.20 in 400 steps", overrides=["optim.lr=3e-7"]),

    _bug("motif", "causal_mask_missing", "mask", "leakage",
         "only the key padding mask applied (`& causal` left out): every position reads the next token, its own "
         "target; teacher-forced accuracy 1.0 (train and validation) after 300 steps, a model that cannot continue "
         "anything on its own"),
    _bug("motif", "softmax_over_heads", "layer", "nonfinite unstable_softmax division_by_zero",
         "scores.softmax(1) (the heads) typed for softmax(-1): a masked (query, key) pair is -inf in every head, so "
         "the softmax over the heads is 0/0 there; NaN at the first forward"),
    _bug("motif", "positions_not_parameter", "structure", "params_not_updating",
         "the position table made (0.02 * torch.randn(12, 64)).requires_grad_() instead of nn.Parameter(...): not "
         "registered, never in the optimiser, frozen at its random init; the model learns around it (validation "
         "accuracy 0.999 after 600 steps, with a dip to 0.966 at 300): silently untrained (from zeros: 0.74)"),
    _bug("motif", "qkv_zero_init", "init", "params_not_updating vanishing_gradients symmetric_units",
         "the fused q/k/v projection's weight and bias zero-initialised: q = k = 0, each blocks the other's "
         "gradient, the attention stays uniform over the prefix; validation accuracy 0.85 after 600 steps",
         root="params_not_updating"),
    _bug("motif", "lr_0.05", "hyperparameter", "lr_too_high nonfinite exploding_gradients",
         "optim.lr=0.05 (for Adam at 0.003): no NaN, accuracy 0.65 after 300 steps (0.1: 0.36)", root="lr_too_high",
         overrides=["optim.lr=0.05"]),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
