"""The thirty-first held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source, the policy or the tests: new models
and new variations of the same kinds of mistakes. `named`/`root` use the public codes (VOCABULARY); a code that
describes a real consequence of the bug counts as named. Written and committed before the suite was first run on a
bug; the consequences in `what` were measured in plain PyTorch (the family's optimiser and LR: Adam at 0.003 for
rings, discs and sorter, at 0.001 for majority; batch 32, seed 0, 400 steps on the full training set) against the
clean model (rings validation accuracy 0.860 at 100 steps, 0.912 at 400, 0.944 at 1000; discs 0.914 / 0.984;
sorter token accuracy 0.975 / 0.980, exact 0.88, greedy decoding exact 0.89; majority 0.998 / 1.0).
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("rings", "discs", "sorter", "majority")

BUGS: tuple[Bug, ...] = (
    _bug("rings", "edges_in_percent", "data", "trivial_labels labels_not_learnable",
         "np.digitize(r, EDGES * 100): the ring edges scaled x100, every radius below the first, every label 0 in "
         "both splits (constant labels); training and validation accuracy 1.0 and loss 0.0 after 100 steps",
         root="trivial_labels"),
    _bug("rings", "nll_of_negated", "loss", "loss_unbounded loss_mismatch",
         "F.nll_loss(-F.log_softmax(z), y): the sign twice, the loss is log p of the target, unbounded below; first "
         "loss -1.37, -2.2e3 after 100 steps, -2.9e5 after 400, validation accuracy 0.263 (cross-entropy 2.7e5)"),
    _bug("rings", "weights_constant", "init", "symmetric_units",
         "every weight and bias nn.init.constant_(p, 0.02): every hidden unit a copy of the others; first loss 1.386 "
         "(log 4), validation accuracy 0.343 after 100 steps, 0.355 after 400 (clean 0.860 / 0.912)"),
    _bug("rings", "batch_restandardised", "structure", "batch_dependence",
         "x = (x - x.mean(0)) / (x.std(0) + 1e-5) in forward: the already standardised features standardised again "
         "over the batch; validation accuracy 0.817 after 100 steps, 0.844 after 400 (clean 0.860 / 0.912); a point "
         "alone gives NaN (the std of one)"),
    _bug("rings", "lr_0.5", "hyperparameter", "lr_too_high nonfinite exploding_gradients dead_units",
         "optim.lr=0.5 (for Adam at 0.003): no NaN, validation accuracy 0.239 after 100 and 400 steps, loss 1.42 "
         "(chance 1.386)", root="lr_too_high", overrides=["optim.lr=0.5"]),

    _bug("discs", "val_channels_bgr", "data", "labels_not_learnable",
         "the validation images' channels flipped (BGR; a split built differently), training untouched; training "
         "accuracy 0.949 / 0.995, validation 0.316 / 0.338 after 100 / 400 steps (validation loss 7.3, clean 0.05)"),
    _bug("discs", "norm_over_batch", "layer", "batch_dependence",
         "the hand-written instance norm's mean and variance over dims (0, 2, 3) (the batch too) instead of (2, 3): "
         "trains (validation accuracy 0.902 / 0.986 after 100 / 400 steps), but an image alone and inside a batch of "
         "16 get logits differing by up to 14.9 (mean 8.8)"),
    _bug("discs", "conv1_under_no_grad", "structure", "params_not_updating",
         "the first conv block run under torch.no_grad(): conv1 never trains, keeping its random filters; validation "
         "accuracy 0.888 after 100 steps, 0.962 after 400 (clean 0.914 / 0.984)"),
    _bug("discs", "loss_on_softmax", "loss", "loss_floor loss_mismatch",
         "F.cross_entropy(logits.softmax(-1), y): cross-entropy over probabilities (a softmax twice): the optimised "
         "loss floors at 1.17 (400 steps), the metrics' training loss 1.75, validation accuracy 0.786 / 0.800 after "
         "100 / 400 steps (clean 0.914 / 0.984)"),
    _bug("discs", "fc1_uniform", "init", "bad_init_loss exploding_gradients dead_units saturated_units",
         "nn.init.uniform_(fc1.weight, 0, 1) (default U(-0.044, 0.044), all positive and 22x larger): first loss 198 "
         "(chance log 6 = 1.79); validation accuracy 0.39 after 100 steps, 0.91 after 400 (clean 0.984)",
         root="bad_init_loss"),

    _bug("sorter", "tgt_in_unshifted", "data", "leakage",
         "tgt_in = the target itself instead of BOS + the target shifted: the decoder reads the token it must "
         "predict; teacher-forced token accuracy 1.0 on both splits after 100 steps (loss 3e-4), greedy decoding "
         "exact 0.0 (clean 0.89)"),
    _bug("sorter", "attention_mask_inverted", "mask", "nonfinite unstable_softmax batch_dependence",
         "masked_fill(~padding, -inf): attention reads only the padding keys; a source without padding gets a fully "
         "-inf row, NaN; the loss is NaN at the first forward", root="nonfinite unstable_softmax"),
    _bug("sorter", "encoder_hh_gain10", "init", "saturated_units exploding_gradients vanishing_gradients bad_init_loss",
         "nn.init.orthogonal_(encoder.weight_hh_l0, gain=10): a saturating recurrence (entries std 0.88, default "
         "0.051); token accuracy 0.857 after 100 steps, 0.965 after 400, exact 0.81 (clean 0.975 / 0.980, 0.88)",
         root="saturated_units bad_init_loss"),
    _bug("sorter", "state_from_padded_end", "structure", "batch_dependence",
         "the decoder's initial state taken as enc[:, -1] (the last column of the padded encoder outputs, zeros for "
         "the shorter sources of a batch) instead of the packed final state: trains (token accuracy 0.961 / 0.987 "
         "after 100 / 400 steps), but a pair alone and inside a batch of 16 get logits differing by up to 10.7 "
         "(mean 3.4): silently batch-dependent"),
    _bug("sorter", "nll_on_probs", "loss", "loss_mismatch loss_floor",
         "F.nll_loss on softmax probabilities (not log-probabilities): the loss is minus the target's probability, "
         "bounded in [-1, 0], its gradient vanishing on wrong tokens; first loss -0.09, -0.93 after 400 steps; token "
         "accuracy 0.776 / 0.942 after 100 / 400 steps, exact 0.70 (clean 0.975 / 0.980, 0.88)"),

    _bug("majority", "labels_reversed", "data", "labels_not_learnable",
         "y_train.flip(0): the training labels in reverse order (misaligned), validation untouched; training accuracy "
         "0.273 / 0.295, validation 0.282 / 0.308 after 100 / 400 steps, loss 1.36 (chance 1.386)"),
    _bug("majority", "mask_added_as_bool", "mask", "batch_dependence",
         "scores + pad (the boolean mask added: +1 on the padding keys) instead of masked_fill(pad, -inf): padding "
         "attended and even favoured; trains (accuracy 1.0 after 400 steps) but a sequence alone and inside a batch "
         "of 16 get logits differing by up to 2.5 (clean 2e-6)"),
    _bug("majority", "softmax_over_queries", "layer", "nonfinite unstable_softmax batch_dependence",
         "the hand-written attention's softmax over dim -2 (the queries) instead of -1: a padding key's column is all "
         "-inf, NaN; the loss is NaN at the first forward", root="nonfinite unstable_softmax"),
    _bug("majority", "qkv_std1", "init", "bad_init_loss saturated_units vanishing_gradients",
         "nn.init.normal_(qkv.weight, std=1) in each block (default U(-1/8, 1/8), std 0.072): attention scores ~200x "
         "larger, one-hot attention; first loss 1.52 (normal), validation accuracy 0.606 after 100 steps, 0.698 after "
         "400 (clean 0.998 / 1.0)", root="bad_init_loss saturated_units"),
    _bug("majority", "lr_1e-6", "hyperparameter", "lr_too_low",
         "optim.lr=1e-6 (for Adam at 0.001): loss 1.52 -> 1.43 in 400 steps, validation accuracy 0.282",
         overrides=["optim.lr=1e-6"]),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
