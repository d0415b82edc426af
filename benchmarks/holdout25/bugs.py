"""The twenty-fifth held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source or tests: new models and new
variations of the same kinds of mistakes. `named`/`root` use the public codes (VOCABULARY); a code that
describes a real consequence of the bug counts as named. Written and committed before the suite was first run on a
bug; the consequences in `what` were measured in plain PyTorch (Adam at the family's LR: 0.001 for sorter, 0.003
for the others; batch 32, seed 0, 300 steps on the full training set) against the clean model.
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("projectile", "rotnet", "caesar", "sorter")

BUGS: tuple[Bug, ...] = (
    _bug("projectile", "landing_distance_column", "data", "leakage",
         "the measured landing distance (recorded after the shot, with the jittered speed) kept among the features: "
         "it fixes the class the jitter leaves uncertain; validation loss 0.114 after 300 steps and falling (clean "
         "0.15 at 250 steps; best_loss 0.078), accuracy 0.95"),
    _bug("projectile", "val_not_standardised", "data", "labels_not_learnable",
         "the validation features left in physical units (the training ones standardised): a transformation of one "
         "split only; validation accuracy 0.50, loss 145 after 300 steps while training accuracy is 0.92"),
    _bug("projectile", "nll_on_logsigmoid", "loss", "loss_mismatch",
         "nll_loss on logsigmoid(logits) instead of log_softmax: each class's logit is pushed up on its own examples "
         "and nothing pushes the others down; the optimised loss falls toward 0 while the true cross-entropy stays "
         "at 0.65 (clean 0.11) and training accuracy at 0.82 (clean 0.95)"),
    _bug("projectile", "standardise_in_forward", "structure", "batch_dependence",
         "the model standardises its input with the batch's own mean and std in forward (evaluation too): each "
         "prediction depends on the batch-mates (a batch of one is NaN); validation accuracy 0.92 after 300 steps"),
    _bug("projectile", "uniform_init_no_bounds", "init", "bad_init_loss",
         "nn.init.uniform_(weight) without bounds on every Linear: U(0, 1), all positive, mean 0.5; first loss 25 "
         "(chance log 3 = 1.1); validation accuracy 0.86 after 300 steps (clean 0.94)"),

    _bug("rotnet", "val_rotated_other_way", "data", "labels_not_learnable",
         "the validation images rotated with dims=(-1, -2) (clockwise) while the labels count counter-clockwise "
         "turns: quarter and three-quarter turns swapped on the validation split only; validation accuracy 0.51, "
         "loss 2.2 (training 0.97)"),
    _bug("rotnet", "labels_drawn_twice", "data", "labels_not_learnable",
         "the training labels drawn again from the generator instead of reusing the k that rotated the images: "
         "labels unrelated to the images; validation accuracy 0.19 after 300 steps"),
    _bug("rotnet", "ws_std_over_in_channels", "layer", "nonfinite division_by_zero",
         "the written-out weight standardisation takes the std over dim 1 (input channels) instead of (1, 2, 3): "
         "the first convolution has one input channel, the std of one value is 0/0 = NaN; NaN at the first forward"),
    _bug("rotnet", "convs_in_plain_list", "structure", "params_not_updating",
         "the two convolutions kept in a plain Python list instead of nn.ModuleList: not registered, never in the "
         "optimiser, frozen at their random init; the head still learns on random features (validation 0.88 after "
         "300 steps, clean 0.92)"),
    _bug("rotnet", "lr_0.5", "hyperparameter", "lr_too_high nonfinite exploding_gradients",
         "optim.lr=0.5 (for Adam at 0.003)", root="lr_too_high", overrides=["optim.lr=0.5"]),

    _bug("caesar", "targets_fetched_sorted", "data", "labels_not_learnable",
         "the batch function fetches the targets in sorted index order and the sources in the order asked: each "
         "ciphertext meets another example's plaintext; validation token accuracy 0.19 after 300 steps (clean 0.99)"),
    _bug("caesar", "ignore_index_eos", "loss", "loss_mismatch",
         "ignore_index=EOS typed for PAD in the loss: the padding positions are trained and EOS never is, so the "
         "model never learns to stop; teacher-forced token accuracy stays at 0.84, exact 0.0"),
    _bug("caesar", "decoder_under_no_grad", "structure", "params_not_updating",
         "the teacher-forced decoder GRU run under torch.no_grad() (copied from the inference code): the decoder "
         "and the target embedding get no gradient; validation token accuracy 0.46 after 300 steps"),
    _bug("caesar", "gru_bias_5", "init", "vanishing_gradients saturated_units params_not_updating",
         "every bias of the encoder GRU set to 5 (a 'remember by default' habit from LSTM forget gates): the update "
         "gate sits at 1, the encoder's state barely moves from 0 and its gradients vanish; validation token "
         "accuracy 0.40 after 300 steps", root="vanishing_gradients saturated_units"),
    _bug("caesar", "attention_without_pad_mask", "mask", "batch_dependence",
         "the attention's padding mask left out: each decoder step also attends to the encoder outputs at the "
         "padded positions, whose number depends on the batch; trains as the clean model (0.99 after 300 steps): "
         "silently batch-dependent"),

    _bug("sorter", "softmax_sum_over_queries", "layer", "nonfinite division_by_zero unstable_softmax",
         "the written-out attention softmax divides by the sum over dim -2 (the queries) instead of -1, under the "
         "-inf mask: a padding key's column is all zeros, 0/0 = NaN, spread to every position; NaN at the first "
         "forward of any padded batch"),
    _bug("sorter", "causal_mask_without_diagonal", "mask", "nonfinite",
         "the causal mask built with tril(diagonal=-1): no token may read itself, the first position's row is all "
         "-inf, its max is -inf and (s - max) is NaN; NaN at the first forward"),
    _bug("sorter", "tied_head_default_init", "init", "bad_init_loss",
         "the N(0, 0.02) init of the token embedding left out: the output layer tied to it has nn.Embedding's "
         "N(0, 1) weights, logits of std ~8; first loss 61 (chance log 19 = 2.9); trains nearly as the clean model"),
    _bug("sorter", "loss_flattened_time_major", "loss", "batch_dependence",
         "the logits transposed to (L, B) before flattening while the targets stay batch-first: outputs paired with "
         "other examples' targets; training accuracy 0.17, loss 2.76 after 300 steps"),
    _bug("sorter", "lr_3e-7", "hyperparameter", "lr_too_low", "optim.lr=3e-7 (for Adam at 0.001)",
         overrides=["optim.lr=3e-7"]),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
