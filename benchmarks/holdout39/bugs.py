"""The thirty-ninth held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source, the policy or the tests: new models
on new synthetic data and new variations of the same kinds of mistakes. `named`/`root` use the public codes
(VOCABULARY); a code that describes a real consequence of the bug counts as named. Decided and committed before the
suite was first run on a bug. Clean models in a plain PyTorch loop (the family's Adam LR, batch 32, seed 0, the full
training set): stars validation accuracy 0.978 / 0.978 / 0.985 after 200 / 800 / 1500 steps; glyphs 0.942 / 0.993 /
0.998 after 200 / 400 / 800 steps; hexbin validation token accuracy 0.816 / 0.901 / 0.989 after 200 / 400 / 800 steps;
tally token accuracy 0.943 / 0.914 / 0.995 after 200 / 400 / 800 steps. Bug consequences measured in the same loop
before the commit are noted in `what`.
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("stars", "glyphs", "hexbin", "tally")

BUGS: tuple[Bug, ...] = (
    _bug("stars", "shuffle_features_only", "data", "labels_not_learnable",
         "x = x[rng.permutation(len(x))] before the split, the labels left in their order (the rows shuffled apart "
         "from their classes); validation accuracy 0.235 / 0.228 after 200 / 800 steps (chance 1/6)"),
    _bug("stars", "nll_on_logits", "loss", "loss_unbounded loss_mismatch",
         "F.nll_loss(logits, y) on raw logits (no log_softmax): minus the target's logit, unbounded below; the "
         "optimised loss starts at -0.11, accuracy trains (0.973 after 800 steps) while the validation cross-entropy "
         "rises 0.43 / 1.07 / 1.48 after 200 / 800 / 1500 steps as the logits grow"),
    _bug("stars", "tanh_init_std_3", "init", "saturated_units vanishing_gradients bad_init_loss",
         "nn.init.normal_(weight, std=3.0) on both hidden layers (14x and 42x PyTorch's default): the tanh units sit "
         "at the rails; validation accuracy 0.878 / 0.912 / 0.933 after 200 / 800 / 1500 steps (clean 0.978 / "
         "0.978 / 0.985)", root="saturated_units bad_init_loss"),
    _bug("stars", "dropout_always_on", "layer", "random_eval",
         "F.dropout(h, 0.2) without training=self.training (F.dropout defaults to training=True): dropout stays on "
         "in evaluation, so the validation metrics are noisy and lower; validation accuracy 0.958 / 0.968 / 0.980 "
         "after 200 / 800 / 1500 steps (clean 0.978 / 0.978 / 0.985)"),
    _bug("stars", "lr_3e-6", "hyperparameter", "lr_too_low",
         "optim.lr=3e-6 (for Adam at 0.003); plain loop: validation accuracy 0.355 / 0.465 after 800 / 1500 steps",
         overrides=["optim.lr=3e-6"]),

    _bug("glyphs", "roll_along_batch", "data", "labels_not_learnable",
         "the shift augmentation rolls dims (0, 3) instead of (2, 3): whenever the vertical shift is not 0 (2 batches "
         "of 3), every image moves to its neighbour's row of the batch and meets its label; validation accuracy "
         "0.29 / 0.72 / 0.89 after 200 / 400 / 800 steps (clean 0.94 / 0.99 / 0.998)"),
    _bug("glyphs", "val_label_encoder_refit", "data", "labels_not_learnable",
         "the validation names encoded by a label encoder fitted on them in order of appearance instead of the "
         "training one (sorted): four of six classes get other ids on validation; training accuracy 0.998, "
         "validation 0.30 after 800 steps"),
    _bug("glyphs", "loss_on_argmax", "loss", "params_not_updating task_error",
         "F.mse_loss(logits.argmax(-1).float(), y.float()): a loss on the predicted class ids, which carries no "
         "gradient; backward raises 'element 0 of tensors does not require grad'"),
    _bug("glyphs", "stem_under_no_grad", "structure", "params_not_updating",
         "the first convolution run under torch.no_grad() (as for a frozen pretrained stem, but its weights are "
         "random): conv1 never trains; validation accuracy 0.82 / 0.968 / 0.980 after 200 / 400 / 800 steps (clean "
         "0.942 / 0.993 / 0.998)"),
    _bug("glyphs", "conv_init_std_1", "init", "bad_init_loss saturated_units exploding_gradients",
         "nn.init.normal_(conv.weight, std=1.0) on the three convolutions (3x, 12x and 17x PyTorch's default): "
         "first loss 223 (chance 1.79); validation accuracy 0.60 / 0.69 / 0.82 after 200 / 400 / 800 steps",
         root="bad_init_loss"),

    _bug("hexbin", "src_len_padded_width", "data", "batch_dependence",
         "src_len filled with the batch's width instead of each number's length: the packed encoder reads every "
         "PAD, so an example's final state (the decoder's start) depends on how much its batch pads it; trains "
         "(validation token accuracy 0.993 after 800 steps, evaluated on one fixed batch)"),
    _bug("hexbin", "attn_mask_inverted", "mask", "nonfinite batch_dependence",
         "masked_fill(src != PAD, -inf) instead of (src == PAD): the attention may only see the padding; the "
         "longest number of each batch has no PAD, so its rows are all -inf and the softmax NaN; the first loss is "
         "NaN", root="nonfinite"),
    _bug("hexbin", "gru_bias_10", "init", "saturated_units vanishing_gradients params_not_updating",
         "nn.init.constant_(encoder.bias_hh_l0, 10.0) (meant: the update gate's third, at 1): the update gate "
         "starts at sigmoid(10), so the encoder's state barely leaves 0 and its gates are at the rails; validation "
         "token accuracy 0.72 / 0.84 / 0.93 after 200 / 400 / 800 steps (clean 0.82 / 0.90 / 0.99)"),
    _bug("hexbin", "ignore_eos", "loss", "loss_mismatch",
         "F.cross_entropy(..., ignore_index=EOS) instead of PAD: EOS is never trained (and PAD targets are); "
         "validation token accuracy over the real targets 0.77 / 0.85 / 0.92 after 200 / 400 / 800 steps"),
    _bug("hexbin", "lr_0.5", "hyperparameter", "lr_too_high nonfinite exploding_gradients",
         "optim.lr=0.5 (for Adam at 0.003); plain loop: token accuracy 0.49 after 100 and 300 steps",
         root="lr_too_high", overrides=["optim.lr=0.5"]),

    _bug("tally", "pad_mask_dropped", "mask", "batch_dependence",
         "the key padding mask never applied (the masked_fill skipped): every letter attends to its batch's "
         "padding too, so its count depends on how much padding the batch adds; validation token accuracy 0.81 / "
         "0.94 / 0.97 after 200 / 400 / 800 steps (clean 0.94 / 0.91 / 0.995)"),
    _bug("tally", "scores_times_sqrt_d", "layer", "saturated_units vanishing_gradients",
         "scores * sqrt(16) instead of / sqrt(16) in both blocks: the attention logits 16x too large, each softmax "
         "near one-hot; token accuracy 0.30 / 0.29 / 0.27 after 200 / 400 / 800 steps"),
    _bug("tally", "train_val_overlap", "data", "leakage",
         "validation = seqs[:N_VAL] (a typo for seqs[N_TRAIN:]): the 500 validation sequences are the first 500 "
         "training ones, so the validation score measures memorisation, nothing held out"),
    _bug("tally", "qkv_frozen", "structure", "params_not_updating",
         "qkv.requires_grad_(False) in each block (meant for a pretrained checkpoint; these weights are random): "
         "the attention's queries, keys and values never train; validation token accuracy 0.89 / 0.99 / 0.98 after "
         "200 / 400 / 800 steps (clean 0.94 / 0.91 / 0.995)"),
    _bug("tally", "count_over_batch", "data", "labels_not_learnable trivial_labels",
         "the counts compared each token with x.flatten() (every token of the batch) instead of its own row: every "
         "count is far above 10, so every target is the clipped class 9, in training and in validation; accuracy "
         "1.0 from step 200 (a constant answer)"),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
