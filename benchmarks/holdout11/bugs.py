"""The eleventh held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source: new models and new
variations of the same kinds of mistakes. `named`/`root` use the public codes (VOCABULARY); a code that
describes a real consequence of the bug counts as named. Written before the suite was first run.
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("gptmini", "forecast", "mdn", "lenet")

BUGS: tuple[Bug, ...] = (
    _bug("gptmini", "mask_sees_future", "mask", "leakage",
         "the causal mask built with tril(-1) instead of triu(1): each position sees itself and every later token "
         "(the next answer token is in the input), the past is blocked"),
    _bug("gptmini", "diagonal_masked", "mask", "nonfinite unstable_softmax",
         "the causal mask built with triu(0): a query may not see itself, so position 0 has no key (a row all -inf, "
         "its softmax NaN)"),
    _bug("gptmini", "embedding_std_1", "init", "bad_init_loss exploding_gradients saturated_units",
         "the token embedding (tied to the output layer) initialised with std 1.0 instead of 0.02: logits ~8x too "
         "large at init", root="bad_init_loss"),
    _bug("gptmini", "positions_frozen", "structure", "params_not_updating",
         "the learned position embedding set requires_grad_(False) (left from a fixed sinusoidal variant)"),

    _bug("forecast", "pasts_shuffled_alone", "data", "labels_not_learnable",
         "the training pasts permuted, their futures not: each window is paired with another's continuation "
         "(teacher forcing still lets steps 2..8 follow the true previous value)"),
    _bug("forecast", "futures_in_watts", "data",
         "input_scale bad_init_loss exploding_gradients saturated_units lr_too_high nonfinite labels_not_learnable",
         "the futures (targets, also the teacher-forced decoder inputs) in raw units 2000 + 500 x, the pasts "
         "standardised", root="input_scale bad_init_loss"),
    _bug("forecast", "encoder_state_detached", "structure", "params_not_updating",
         "the encoder's final (h, c) .detach()ed before the decoder: the encoder LSTM never trains"),
    _bug("forecast", "scaled_by_batch", "layer", "batch_dependence",
         "the instance normalisation's mean and std taken over the whole batch instead of each window's time steps"),

    _bug("mdn", "density_without_logsumexp", "loss", "log_of_zero nonfinite",
         "the mixture NLL as -log(sum pi N(y)) with the densities exponentiated: once the Gaussians sharpen, a point "
         "far from all of them underflows to density 0, log 0 = -inf"),
    _bug("mdn", "logsumexp_over_batch", "loss", "batch_dependence loss_unbounded nonfinite",
         "logsumexp over dim 0 (the batch) instead of the components: each component only needs its best example, "
         "so the loss depends on the batch and falls without bound as sigmas shrink",
         root="batch_dependence loss_unbounded"),
    _bug("mdn", "log_std_bias_minus_10", "init", "bad_init_loss exploding_gradients nonfinite",
         "the log-std outputs' bias initialised to -10 (sigma 4.5e-5): an NLL in the millions at init",
         root="bad_init_loss nonfinite"),
    _bug("mdn", "lr_3", "hyperparameter", "lr_too_high nonfinite exploding_gradients",
         "optim.lr=3 (for 0.001)", root="lr_too_high", overrides=["optim.lr=3"]),

    _bug("lenet", "labels_from_the_end", "data", "labels_not_learnable loss_floor",
         "the training labels sliced from the end of the split permutation (perm[-1300:]), the images from its start",
         root="labels_not_learnable"),
    _bug("lenet", "conv1_zero_init", "init",
         "params_not_updating dead_units vanishing_gradients labels_not_learnable overfit_batch_size_1",
         "conv1's weight and bias zero-initialised: its ReLU outputs 0 everywhere, no gradient reaches conv1 and the "
         "output ignores the image", root="params_not_updating dead_units"),
    _bug("lenet", "loss_summed", "loss", "lr_too_high nonfinite exploding_gradients",
         "cross_entropy(reduction='sum'): the gradient 32x larger, SGD at 0.03 with momentum 0.9 diverges"),
    _bug("lenet", "bs1_lr_0.5", "hyperparameter", "lr_too_high nonfinite exploding_gradients",
         "optim.batch_size=1 optim.lr=0.5 (for 32 and 0.03, SGD with momentum)", root="lr_too_high",
         overrides=["optim.batch_size=1", "optim.lr=0.5"]),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
