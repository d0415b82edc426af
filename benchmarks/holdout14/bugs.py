"""The fourteenth held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source: new models and new
variations of the same kinds of mistakes. `named`/`root` use the public codes (VOCABULARY); a code that
describes a real consequence of the bug counts as named. Written before the suite was first run.
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("vgg", "nmt", "resmlp", "bptt")

BUGS: tuple[Bug, ...] = (
    _bug("vgg", "flip_reorders_images", "data", "labels_not_learnable loss_floor",
         "the flip augmentation rebuilds the batch as torch.cat([x[~flip], x[flip].flip(-1)]): the unflipped images "
         "first, the flipped ones after, while the labels keep their order", root="labels_not_learnable"),
    _bug("vgg", "batch_standardised_inputs", "structure", "batch_dependence",
         "forward() standardises its input per channel over the batch (mean/std over dims 0, 2, 3): an image's "
         "logits depend on its batch-mates, in evaluation too"),
    _bug("vgg", "bn_gamma_zero", "init", "params_not_updating dead_units vanishing_gradients",
         "ResNet's zero-init of each block's last BatchNorm scale applied to the VGG's last block, which has no "
         "skip: its ReLU outputs are all 0, every gradient before the head's second layer is exactly 0",
         root="params_not_updating dead_units"),
    _bug("vgg", "lr_1e-5", "hyperparameter", "lr_too_low",
         "optim.lr=1e-5 (for SGD with momentum at 0.05)", overrides=["optim.lr=1e-5"]),

    _bug("nmt", "mask_convention_flipped", "mask", "leakage labels_not_learnable",
         "the causal mask built as the 'may attend' lower triangle (tril of ones) where PyTorch's boolean masks "
         "mean 'hidden': each target position sees the future target words and not the past",
         root="leakage"),
    _bug("nmt", "memory_mask_dropped", "mask", "batch_dependence",
         "memory_key_padding_mask not passed to the decoder: the cross-attention reads the padded source "
         "positions, as many as the batch's longest source adds"),
    _bug("nmt", "target_not_shifted", "data", "leakage labels_not_learnable",
         "the decoder's targets sliced like its input (t[:, :-1] instead of t[:, 1:]): each position's target is "
         "its own input word, copied; greedy decoding then repeats BOS", root="leakage"),
    _bug("nmt", "lr_1", "hyperparameter", "lr_too_high nonfinite exploding_gradients",
         "optim.lr=1 (for Adam at 0.003)", root="lr_too_high", overrides=["optim.lr=1"]),

    _bug("resmlp", "amount_not_logged", "data", "input_scale bad_init_loss lr_too_high exploding_gradients lr_too_low",
         "the raw amount (mean ~960, up to ~30,000) regressed instead of its standardised log",
         root="input_scale bad_init_loss"),
    _bug("resmlp", "log_of_counts", "data", "nonfinite log_of_zero",
         "the skewed visit count fed as log(count) instead of log1p(count): nearly half the counts are 0, -inf "
         "features, NaN after standardisation"),
    _bug("resmlp", "stem_left_frozen", "structure", "params_not_updating",
         "stem.requires_grad_(False) left from a linear-probe experiment: the input projection stays random"),
    _bug("resmlp", "bs1_lr_1", "hyperparameter", "lr_too_high nonfinite exploding_gradients",
         "optim.batch_size=1 optim.lr=1 (for 32 and AdamW at 0.003)", root="lr_too_high",
         overrides=["optim.batch_size=1", "optim.lr=1"]),

    _bug("bptt", "loss_over_time_axis", "loss", "labels_not_learnable",
         "F.cross_entropy(logits, y) on (B, T, V) logits without moving the classes to dim 1: with T == V (12) "
         "it runs silently, each target token read as a time index over one vocabulary slot's logits"),
    _bug("bptt", "decoder_made_in_forward", "structure", "params_not_updating",
         "the output layer nn.Linear(64, 12) constructed inside forward(): new random weights at every call, "
         "never the model's parameters"),
    _bug("bptt", "embedding_std_100", "init", "saturated_units vanishing_gradients",
         "the embedding initialised N(0, 100^2) (meant std 1/100): the LSTM's gate pre-activations are ~+-100, "
         "every gate saturated, their gradients ~0"),
    _bug("bptt", "lr_0.5", "hyperparameter", "lr_too_high nonfinite exploding_gradients",
         "optim.lr=0.5 (for Adam at 0.003)", root="lr_too_high", overrides=["optim.lr=0.5"]),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
