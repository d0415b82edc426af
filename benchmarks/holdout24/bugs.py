"""The twenty-fourth held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source or tests: new models and new
variations of the same kinds of mistakes. `named`/`root` use the public codes (VOCABULARY); a code that
describes a real consequence of the bug counts as named. Written and committed before the suite was first run on a
bug; the consequences in `what` were measured in plain PyTorch (Adam at the family's LR: 0.001 for recall, 0.003
for the others; batch 32, seed 0, 400 steps on the full training set unless said) against the clean model.
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("quantmlp", "orientcnn", "roman", "recall")

BUGS: tuple[Bug, ...] = (
    _bug("quantmlp", "log_of_raw_counts", "data", "nonfinite log_of_zero",
         "the visit-count column taken as log(count) instead of log1p(count) when the table is built: a store with no "
         "visit gives -inf, and the column's standardisation turns the whole column into NaN/inf; every loss is NaN "
         "from the first step"),
    _bug("quantmlp", "target_column_in_features", "data", "leakage",
         "the features sliced table[:, 1:] instead of table[:, :-1]: the first feature is dropped and the target (the "
         "last column) is among the inputs; validation pinball loss 0.015 after 300 steps, far below what a correct "
         "model can reach (best_loss 0.088; clean 0.104)"),
    _bug("quantmlp", "pinball_indicator_flipped", "loss", "loss_unbounded",
         "the pinball loss written u (tau - [u > 0]) instead of u (tau - [u < 0]): every term is <= 0, the loss is "
         "linear in the outputs and unbounded below; the optimised loss falls to -222 after 400 steps while the real "
         "pinball loss climbs to 149 (R^2 of the median -77000)"),
    _bug("quantmlp", "rmsnorm_over_batch", "layer", "batch_dependence",
         "the written-out RMSNorm takes the mean square over dim 0 (the batch) instead of the features: each "
         "example's normalisation depends on its batch-mates, in evaluation too; trains about as the clean model "
         "(validation pinball 0.100 after 400 steps): silently wrong rather than failing"),
    _bug("quantmlp", "lr_3e-7", "hyperparameter", "lr_too_low", "optim.lr=3e-7 (for Adam at 0.003)",
         overrides=["optim.lr=3e-7"]),

    _bug("orientcnn", "flip_keeps_angle", "data", "labels_not_learnable",
         "the flip augmentation mirrors the image but not its angle (the line negating sin 2 theta skipped): half of "
         "each batch carries the orientation of another image than the one shown; training accuracy (within 5 "
         "degrees) 0.11 and mean error 26 degrees after 400 steps (clean 0.87, 2.5 degrees)"),
    _bug("orientcnn", "images_kept_0_255", "data", "input_scale",
         "the images kept as 8-bit intensities (x 255) instead of standardised: pixel std ~50 and mean ~20; with "
         "Adam it trains nearly as the clean model (validation 0.855 after 400 steps, clean 0.877)"),
    _bug("orientcnn", "head_zero_init", "init", "nonfinite division_by_zero",
         "the last layer's weight and bias zero-initialised (a regression-head habit): the output is exactly 0 and "
         "its division by its own length (written out) is 0/0: NaN at the first forward, every loss NaN"),
    _bug("orientcnn", "head_built_in_forward", "structure", "params_not_updating random_eval",
         "the Linear(512, 64) layer built inside forward (`self.fc = nn.Linear(h.shape[1], 64)`, its input size read "
         "off the features): new random weights at every call, the optimiser holds the first ones, which never take "
         "part; the model cannot learn (training accuracy 0.06, loss ~1 = chance after 400 steps)",
         root="params_not_updating"),
    _bug("orientcnn", "lr_2", "hyperparameter", "lr_too_high nonfinite exploding_gradients",
         "optim.lr=2 (for Adam at 0.003)", root="lr_too_high", overrides=["optim.lr=2"]),

    _bug("roman", "sorted_without_targets", "data", "labels_not_learnable",
         "the batch function sorts the batch by source length for packing but reorders only src and src_len, not "
         "tgt_in and tgt: each number meets another number's numeral; training token accuracy 0.60 and exact 0.00 "
         "after 400 steps (clean 1.0 / 0.999 after 300)"),
    _bug("roman", "target_shifted_twice", "loss", "loss_mismatch",
         "the loss shifts the targets again as for an LM (logits[:, :-1] against tgt[:, 1:]) although tgt_in is "
         "already shifted: the model learns to predict the letter after next; the optimised loss falls to 0.005 while "
         "the task's teacher-forced token loss rises from 2.2 to 4.0 (accuracy stuck at 0.42) after 400 steps"),
    _bug("roman", "freeze_flag_inverted", "structure", "params_not_updating",
         "`self.encoder.requires_grad_(FREEZE_ENCODER)` instead of `(not FREEZE_ENCODER)`: with the option off the "
         "encoder LSTM is frozen at its random init (about a third of the weights); validation token accuracy 0.87, "
         "exact 0.17 after 400 steps (clean 0.9997 / 0.999 after 300)"),
    _bug("roman", "context_from_last_output", "structure", "batch_dependence",
         "the context read as the padded encoder output's last column (pad_packed_sequence(...)[0][:, -1]) instead "
         "of the final hidden state: for a number shorter than the batch's longest it is the padding's zeros, so "
         "the numeral depends on the batch; validation token accuracy 0.91-0.92, exact 0.78, stuck from step 300"),
    _bug("roman", "out_bias_from_counts", "init", "bad_init_loss",
         "the output layer's bias set to the target letters' raw counts in the training set (thousands) instead of "
         "their log frequencies: first loss ~1100 (chance log 8 = 2.08)"),

    _bug("recall", "softmax_by_hand", "layer", "unstable_softmax nonfinite",
         "the attention softmax written exp(s) / exp(s).sum(-1) under the -inf mask, without subtracting the row "
         "max: the first block reads the sqrt(64)-scaled embeddings, its scores overflow exp (inf / inf = NaN); the "
         "loss is NaN at the first forward on every seed tried"),
    _bug("recall", "padding_rows_masked_too", "mask", "nonfinite",
         "the mask also removes the padding queries (causal & real key & real query): a padding query may read no "
         "key, its softmax row is all -inf and NaN, and the second block spreads it to every position (0 x NaN); "
         "NaN at the first forward of any batch with padding"),
    _bug("recall", "causal_comparison_reversed", "mask", "leakage",
         "the causal mask written j >= i instead of j <= i: each query reads the later tokens, its own answer among "
         "them, and none of the facts before it; validation accuracy 0.97 after 400 steps (clean 0.98) by copying "
         "the answer token"),
    _bug("recall", "label_smoothing_0.9", "loss", "loss_floor",
         "label smoothing 0.9 typed for 0.1: the optimised loss cannot go below ~4.25 (chance log 82 = 4.41); the "
         "answers are still right (accuracy 1.0) but the model is trained to put 0.11 on them"),
    _bug("recall", "lr_0.3", "hyperparameter", "lr_too_high nonfinite exploding_gradients",
         "optim.lr=0.3 (for Adam at 0.001)", root="lr_too_high", overrides=["optim.lr=0.3"]),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
