"""The thirty-eighth held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source, the policy or the tests: new models
on new synthetic data and new variations of the same kinds of mistakes. `named`/`root` use the public codes
(VOCABULARY); a code that describes a real consequence of the bug counts as named. Decided and committed before the
suite was first run on a bug. Clean models in a plain PyTorch loop (the family's Adam LR, batch 32, seed 0, the full
training set): beams validation R² 0.9914 / 0.9965 / 0.9976 after 100 / 300 / 800 steps; chirps validation accuracy
0.98 / 0.992 / 0.995 after 400 / 800 / 1200 steps; wordflip token accuracy 0.972 / 0.995 / 1.0 after 100 / 200 / 500
steps; runmax token accuracy 0.996 / 1.0 after 100 / 300 steps. Bug consequences measured in the same loop before the
commit are noted in `what` (the rest are expectations from the bug alone).
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("beams", "chirps", "wordflip", "runmax")

BUGS: tuple[Bug, ...] = (
    _bug("beams", "split_sorted_by_target", "data", "labels_not_learnable",
         "the table sorted by the target (as for a plot) before the first 3000 / last 600 split: the validation beams "
         "are the 600 that deflect most (standardised targets 1.60..3.94, the training ones -3.68..1.60), a split "
         "that asks the model to extrapolate; validation R² 0.66 / 0.90 / 0.92 after 200 / 400 / 800 steps"),
    _bug("beams", "modulus_left_in_pascals", "data", "input_scale bad_init_loss exploding_gradients nonfinite",
         "the list of columns to standardise leaves out Young's modulus, which the table holds in Pa: one feature of "
         "mean 1.4e11 and std 4.0e10 beside five standardised ones; first loss 7.5e18 (chance 1), training MSE still "
         "4e5 after 800 steps", root="input_scale"),
    _bug("beams", "squared_mean_error", "loss", "batch_dependence loss_mismatch",
         "((pred - y).mean()) ** 2 instead of ((pred - y) ** 2).mean(): the square of the batch's mean error, which "
         "only asks each batch's mean prediction to match its mean target; the optimised loss starts at 1e-5 and "
         "training R² reaches 0.93 / 0.97 after 200 / 800 steps (clean 0.996 / 0.998)"),
    _bug("beams", "constant_init", "init", "symmetric_units",
         "every parameter (weights and biases) initialised to 0.01: the hidden units of each layer are copies and stay "
         "copies (a network one unit wide); validation R² 0.74 / 0.92 after 200 / 800 steps"),
    _bug("beams", "relu_on_output", "structure", "loss_floor overfit_batch_size_1 dead_units",
         "F.relu on the output layer (copied from the hidden layers) of a regression whose standardised targets are "
         "half negative: no prediction below 0; validation R² 0.50 after 200 and 800 steps",
         root="loss_floor overfit_batch_size_1"),

    _bug("chirps", "time_reverse_augment", "data", "labels_not_learnable",
         "get_batch also reverses a random half of the training signals in time, keeping the label, though a reversed "
         "up-chirp is a down-chirp and a reversed pluck a swell (an augmentation that changes the label of four "
         "classes of six); validation accuracy 0.66 / 0.675 after 400 / 800 steps"),
    _bug("chirps", "bn_running_stats_local", "layer", "loss_mismatch",
         "the hand-written BatchNorm's running statistics assigned to local names (`running_mean, running_var = ...` "
         "without `self.`): they stay 0 and 1, so evaluation normalises with them instead of the batch statistics "
         "training used; training loss as clean, eval-mode accuracy 0.64 / 0.53 / 0.94 after 200 / 400 / 800 steps"),
    _bug("chirps", "conv1_bias_negative", "init", "dead_units params_not_updating vanishing_gradients",
         "nn.init.constant_(conv1.bias, -5) (meant to make the units sparse): every unit of the first convolution is "
         "below 0 before the ReLU on every signal, so nothing before the head gets a gradient; accuracy 0.17 (chance) "
         "after 800 steps", root="dead_units params_not_updating"),
    _bug("chirps", "convs_in_plain_list", "structure", "params_not_updating",
         "the three convolutions kept in a Python list instead of nn.ModuleList: not registered, so the optimiser "
         "never holds them (only the BatchNorm and the head train); validation accuracy 0.63 / 0.69 after 400 / 800 "
         "steps"),
    _bug("chirps", "lr_0.8", "hyperparameter", "lr_too_high nonfinite exploding_gradients",
         "optim.lr=0.8 (for Adam at 0.003); plain loop: accuracy 0.51 after 400 steps", root="lr_too_high",
         overrides=["optim.lr=0.8"]),

    _bug("wordflip", "source_truncated", "data", "labels_not_learnable",
         "the sources cut to 10 characters (a limit from another configuration) while the targets keep every word: "
         "the end of a phrase longer than 10 (about a quarter of them) is missing from the input its target reverses; "
         "validation token accuracy 0.88 / 0.887 after 200 / 400 steps (exact 0.67)"),
    _bug("wordflip", "label_smoothing_0.9", "loss", "loss_floor overfit_batch_size_1",
         "F.cross_entropy(..., label_smoothing=0.9) (a typo for 0.1): the target's share of the smoothed distribution "
         "is 0.175 against 0.075 for each other class; the optimised loss stays at 2.44 (chance 2.48) while the argmax "
         "learns (token accuracy 1.0 after 200 steps): the model's probabilities stay near uniform"),
    _bug("wordflip", "lstm_biases_5", "init", "saturated_units vanishing_gradients",
         "every encoder LSTM bias filled with 5 (meant: the forget gate's at 1): with both bias vectors every gate "
         "starts at sigmoid(10) and the cell input at tanh(10), so the encoder's states run to the rails; token "
         "accuracy 0.35 / 0.68 / 0.997 after 100 / 200 / 400 steps (clean 0.97 / 0.995 / 1.0)",
         root="saturated_units"),
    _bug("wordflip", "bidir_state_view", "structure", "batch_dependence",
         "h_n.view(B, 2H) instead of torch.cat([h_n[0], h_n[1]], -1): the (2, B, H) final states viewed as (B, 2H) "
         "give example i the final states of examples 2i and 2i + 1 (forward ones in the first half of the batch, "
         "backward ones in the second) as its decoder's start; trains through the attention (token accuracy 0.998 "
         "after 200 steps)"),
    _bug("wordflip", "tgt_in_shifted_left", "data", "leakage",
         "the decoder's teacher-forcing input built as t[1:] + [PAD] instead of [BOS] + t[:-1]: it reads the token "
         "after the one it must predict (the target leaks into the input); token accuracy 1.0 after 100 steps, "
         "validation too (evaluated with teacher forcing)"),

    _bug("runmax", "targets_right_padded", "data", "labels_not_learnable",
         "the batch function pads the targets after the sequence while the inputs are padded before it: in every "
         "sequence shorter than its batch's longest, position t's input meets another position's running maximum; "
         "token accuracy 0.45 / 0.46 after 200 / 400 steps"),
    _bug("runmax", "pad_mask_on_queries", "mask", "batch_dependence",
         "the padding mask put on the query axis (real[:, :, None]) instead of the key axis (real[:, None, :]): every "
         "real position attends to the padding before it, so its output depends on how much padding its batch adds; "
         "trains (token accuracy 0.9995 after 200 steps)"),
    _bug("runmax", "layernorm_over_time", "layer", "leakage batch_dependence",
         "the hand-written LayerNorm takes its mean and variance over dim 1 (the positions, padding included) instead "
         "of the features: a position's normalisation reads later positions (the future) and the padding; validation "
         "token accuracy 0.984 / 0.988 after 200 / 400 steps, training 0.991 (clean 1.0 / 1.0)"),
    _bug("runmax", "qkv_normal_default_std", "init", "bad_init_loss saturated_units vanishing_gradients",
         "nn.init.normal_(qkv.weight) in each block with no std given (std 1, about 14x PyTorch's 0.072 for 64 "
         "inputs): attention scores ~200x too large, each softmax one-hot at init; token accuracy 0.88 / 0.95 / 0.97 "
         "after 200 / 400 / 800 steps", root="bad_init_loss saturated_units"),
    _bug("runmax", "lr_1e-5", "hyperparameter", "lr_too_low",
         "optim.lr=1e-5 (for Adam at 0.002); plain loop: token accuracy 0.18 / 0.34 after 400 / 800 steps",
         overrides=["optim.lr=1e-5"]),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
