"""The thirty-third held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source, the policy or the tests: new models
and new variations of the same kinds of mistakes. `named`/`root` use the public codes (VOCABULARY); a code that
describes a real consequence of the bug counts as named. Written and committed before the suite was first run on a
bug; the consequences in `what` were measured in plain PyTorch (the family's optimiser and LR: Adam at 0.003 for
loans, locate and dates, at 0.001 for shiftlm; batch 32, seed 0, on the full training set) against the clean model
(loans validation accuracy 0.883 at 100 steps, 0.939 at 400, 0.959 at 1000; locate 0.988 / 0.984 / 0.988; dates token
accuracy 0.852 / 0.9993 / 1.0, exact 0.994 at 400; shiftlm token accuracy 0.170 / 0.479 / 0.9956, exact 0.98 at 1000).
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("loans", "locate", "dates", "shiftlm")

BUGS: tuple[Bug, ...] = (
    _bug("loans", "income_in_dollars", "data", "input_scale bad_init_loss exploding_gradients",
         "the income column left in dollars (std ~2e4) beside three standardised numbers (mixed scales): first loss "
         "761 (clean 1.12); validation accuracy 0.366 / 0.308 / 0.368 after 100 / 400 / 1000 steps (chance 0.33)",
         root="input_scale"),
    _bug("loans", "categories_shuffled", "data", "labels_not_learnable",
         "the training split's category ids (region, product) permuted apart from their rows (validation intact): "
         "the model learns to ignore them; validation accuracy 0.711 / 0.703 / 0.685 after 100 / 400 / 1000 steps"),
    _bug("loans", "ignore_index_zero", "loss", "loss_mismatch division_by_zero nonfinite",
         "F.cross_entropy(..., ignore_index=0) on class labels (copied from a sequence loss): class 0 is never "
         "scored; the optimised loss 1.08 -> 0.013 in 400 steps while the task's training loss rises 3.7 -> 6.7 -> 11.0 "
         "(100 / 400 / 1000 steps) and accuracy stays at 0.59-0.66; a batch of class-0 examples alone is 0/0"),
    _bug("loans", "out_bias_10", "init", "bad_init_loss",
         "the output layer's bias set to [10, 0, 0]: first loss 6.89 (chance 1.10); validation accuracy 0.764 / 0.913 "
         "/ 0.951 after 100 / 400 / 1000 steps (clean 0.883 / 0.939 / 0.959)"),
    _bug("loans", "lr_3", "hyperparameter", "lr_too_high nonfinite exploding_gradients dead_units",
         "optim.lr=3 (for Adam at 0.003): no NaN, validation accuracy 0.308 / 0.366 after 100 / 400 steps (chance)",
         root="lr_too_high", overrides=["optim.lr=3"]),

    _bug("locate", "flip_without_label", "data", "labels_not_learnable",
         "get_batch mirrors a random half of the images left-right without mirroring their cells (augmentation that "
         "breaks the labels): validation accuracy 0.944 / 0.758 after 100 / 400 steps (clean 0.988 / 0.984)"),
    # loss_mismatch: the code that names a loss not pairing each output with its own target since session 23 (readout.py)
    _bug("locate", "logp_indexed_by_batch", "loss", "labels_not_learnable batch_dependence loss_mismatch",
         "-log_softmax(z)[:, y].mean(): a (B, B) matrix, every image scored against every label of the batch instead "
         "of gather: the loss stays at 2.77 (log 16) for 400 steps; validation accuracy 0.42 / 0.83 after 100 / 400"),
    _bug("locate", "conv2_std1", "init", "bad_init_loss exploding_gradients",
         "nn.init.normal_(conv2.weight, std=1) (default U(-1/12, 1/12), std 0.048: 21x) in a ReLU net (homogeneous, "
         "Adam): first loss 2.83, validation accuracy 0.976 / 0.986 after 100 / 400 steps: a mild effect",
         root="bad_init_loss"),
    _bug("locate", "convs_in_list", "structure", "params_not_updating",
         "the first two convolutions kept in a plain Python list, not an nn.ModuleList: unregistered, never in the "
         "optimizer, they keep their random filters; validation accuracy 0.880 / 0.946 after 100 / 400 steps"),
    _bug("locate", "lr_5e-7", "hyperparameter", "lr_too_low",
         "optim.lr=5e-7 (for Adam at 0.003): loss 2.769 -> 2.753 in 400 steps, validation accuracy 0.142",
         overrides=["optim.lr=5e-7"]),

    _bug("dates", "mean_mask_inverted", "mask", "division_by_zero nonfinite",
         "the decoder's initial state the mean of the encoder outputs over src == PAD instead of != PAD: a batch's "
         "longest source has no padding, 0/0; the loss is NaN at the first forward"),
    _bug("dates", "context_replaced_by_state", "structure", "params_not_updating",
         "out(cat(dec, dec)) instead of out(cat(dec, ctx)): the attention context computed and dropped, its query "
         "projection gets no gradient; token accuracy 0.555 / 0.840 after 100 / 400 steps, exact 0.14 (clean 0.852 / "
         "0.9993, 0.994)"),
    _bug("dates", "targets_time_major", "loss", "batch_dependence labels_not_learnable",
         "cross_entropy(logits.flatten(0, 1), tgt.t().flatten()): batch-first outputs against time-major targets, "
         "outputs paired with other examples' digits; loss 2.58 -> 2.2, token accuracy 0.217 / 0.209 after 100 / 400"),
    _bug("dates", "out_std4", "init", "bad_init_loss exploding_gradients",
         "nn.init.normal_(out.weight, std=4) (default U(-1/sqrt(192), ..), std 0.042: 95x): first loss 13.2 (chance "
         "log 10 = 2.30); token accuracy 0.835 / 0.9947 after 100 / 400 steps, exact 0.956: a mild effect",
         root="bad_init_loss"),
    _bug("dates", "targets_of_last_date", "data", "labels_not_learnable trivial_labels",
         "the targets built after the loop from its last date: every pair of both splits has the same target; "
         "training accuracy 1.0 after 100 steps, validation token accuracy 0.546 / 0.637 after 100 / 400, exact 0.0"),

    _bug("shiftlm", "pad_mask_without_self", "mask", "nonfinite batch_dependence",
         "allowed = causal & real_key, without the diagonal: a left-padding query may see no key, its softmax row is "
         "all -inf (NaN), and the next block's attention spreads it (0 x NaN); the loss is NaN at the first forward",
         root="nonfinite"),
    _bug("shiftlm", "causal_mask_transposed", "mask", "leakage",
         "torch.ones(l, l).triu() instead of .tril(): each position sees itself and the future (whose inputs are the "
         "answers); teacher-forced token accuracy 0.815 / 0.818 / 0.825 after 100 / 400 / 1000 steps"),
    _bug("shiftlm", "norm_over_positions", "layer", "leakage batch_dependence",
         "the hand-written LayerNorm's mean and variance over dim 1 (the positions, padding included) instead of -1: "
         "every position sees statistics of later ones and of the batch's padding; token accuracy 0.536 / 0.789 / "
         "0.895 after 100 / 400 / 1000 steps (clean 0.170 / 0.479 / 0.9956)"),
    _bug("shiftlm", "head_std3", "init", "bad_init_loss saturated_units",
         "nn.init.normal_(head.weight, std=3) (default U(-1/8, 1/8), std 0.072: 42x): first loss 38.2 (chance log 6 = "
         "1.79); token accuracy 0.169 / 0.168 / 0.521 after 100 / 400 / 1000 steps", root="bad_init_loss"),
    _bug("shiftlm", "dropout_in_eval", "structure", "random_eval",
         "F.dropout(h, 0.1) in the feed-forward (training=True by default): dropout on at evaluation too, noisy "
         "validation metrics; token accuracy 0.482 / 0.989 after 400 / 1000 steps (clean 0.479 / 0.9956)"),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
