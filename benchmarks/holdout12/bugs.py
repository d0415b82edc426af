"""The twelfth held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source: new models and new
variations of the same kinds of mistakes. `named`/`root` use the public codes (VOCABULARY); a code that
describes a real consequence of the bug counts as named. Written before the suite was first run.
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("charcnn", "attnpool", "bnmlp", "tsformer")

BUGS: tuple[Bug, ...] = (
    _bug("charcnn", "labels_rolled", "data", "labels_not_learnable loss_floor",
         "the training labels rolled by one (label.roll(1)) against the strings: each string carries its "
         "neighbour's language", root="labels_not_learnable"),
    _bug("charcnn", "pool_mask_inverted", "mask", "nonfinite",
         "the max-over-time mask inverted (positions >= length kept): a full-length string has no valid position, "
         "its pooled features are -inf and the head's output NaN (the others pool over padding)"),
    _bug("charcnn", "embedding_std_50", "init",
         "bad_init_loss exploding_gradients lr_too_high nonfinite dead_units",
         "the character embedding initialised with std 50 instead of 1: logits ~50x too large at init",
         root="bad_init_loss"),
    _bug("charcnn", "lr_1e-5", "hyperparameter", "lr_too_low",
         "optim.lr=1e-5 (for Adam at 0.003)", overrides=["optim.lr=1e-5"]),

    _bug("attnpool", "tokens_shuffled_alone", "data", "labels_not_learnable loss_floor",
         "the training sequences (tokens and lengths) permuted, their labels not", root="labels_not_learnable"),
    _bug("attnpool", "gru_frozen", "structure", "params_not_updating",
         "the bidirectional GRU set requires_grad_(False) (left from a linear-probe experiment): only the "
         "embedding, attention and head train"),
    _bug("attnpool", "pads_attended", "mask", "batch_dependence",
         "the padded positions' scores filled with 0 instead of -inf: padding gets attention weight, so an "
         "example's output depends on the longest sequence in its batch"),
    _bug("attnpool", "mask_drops_last", "mask", "nonfinite",
         "the attention mask keeps positions < length - 1 (as if each sequence ended in an EOS it does not have): "
         "a one-token sequence has no valid position, its softmax row is all -inf (NaN)"),

    _bug("bnmlp", "target_in_dollars", "data", "input_scale bad_init_loss lr_too_low",
         "the regression target left in raw units 4000 + 1500 y (the inputs standardised): the Huber loss's "
         "bounded gradient moves the output far too slowly", root="input_scale bad_init_loss"),
    _bug("bnmlp", "targets_sorted", "data", "labels_not_learnable",
         "the training targets sorted (for a quantile clip) and written back without their rows"),
    _bug("bnmlp", "bn_batch_stats_in_eval", "layer", "batch_dependence",
         "BatchNorm1d(track_running_stats=False): evaluation normalises with the batch's own statistics"),
    _bug("bnmlp", "lr_10", "hyperparameter", "lr_too_high nonfinite exploding_gradients",
         "optim.lr=10 (for Adam at 0.003)", root="lr_too_high", overrides=["optim.lr=10"]),

    _bug("tsformer", "mask_blocks_past", "mask", "leakage",
         "the causal mask built with tril(-1) instead of triu(1): each position sees itself and every later step "
         "(its own target among them) and none before"),
    _bug("tsformer", "targets_unshifted", "data", "leakage",
         "the targets sliced like the inputs (series[:, :-1]): the model is asked to output the value it reads, "
         "a validation MSE far below the noise floor"),
    _bug("tsformer", "output_not_squeezed", "loss", "batch_dependence",
         "the (B, T, 1) output compared with (B, T) targets: mse_loss broadcasts to (B, T, T), every position "
         "against every target of the series"),
    _bug("tsformer", "bs1_lr_0.3", "hyperparameter", "lr_too_high nonfinite exploding_gradients",
         "optim.batch_size=1 optim.lr=0.3 (for 32 and Adam at 0.001)", root="lr_too_high",
         overrides=["optim.batch_size=1", "optim.lr=0.3"]),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
