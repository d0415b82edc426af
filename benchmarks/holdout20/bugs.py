"""The twentieth held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source or tests: new models and new
variations of the same kinds of mistakes. `named`/`root` use the public codes (VOCABULARY); a code that
describes a real consequence of the bug counts as named. Written before the suite was first run on a bug.
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("fourier", "keypoint", "rle", "relpos")

BUGS: tuple[Bug, ...] = (
    _bug("fourier", "coords_in_pixels", "data", "input_scale",
         "the coordinates given as pixel indices 0..31 instead of [-1, 1] (feature means ~15.6, stds ~9.3): the "
         "Fourier features sin(2 pi B v) alias into noise, the training pixels are memorised and the validation "
         "pixels are not predicted (validation MSE 1.23 vs 0.06 after 600 steps)"),
    _bug("fourier", "loss_against_x_coord", "loss", "loss_mismatch",
         "the loss's target read from the batch's first column (the x coordinate) instead of the pixel value: the "
         "loss falls to ~0.001 while the metrics' MSE against the pixels stays ~0.83"),
    _bug("fourier", "output_bias_100", "init", "bad_init_loss",
         "the output bias initialised to 100 (the raw image's mean brightness) while the targets are standardised: "
         "the first loss ~10,000 for a target variance of 1"),
    _bug("fourier", "lr_1", "hyperparameter", "lr_too_high nonfinite exploding_gradients",
         "optim.lr=1 (~330x Adam's 0.003; the probe's NaN threshold is ~0.012)", root="lr_too_high",
         overrides=["optim.lr=1"]),

    _bug("keypoint", "keypoint_xy_swapped", "data", "labels_not_learnable",
         "the targets kept as (row, col) while the soft-argmax returns (x, y): a translation-equivariant net cannot "
         "put its heatmap at the transposed position (10 images are memorised; on 2000 the training accuracy stays "
         "~0.005)"),
    _bug("keypoint", "conv_bias_minus_2", "init", "params_not_updating dead_units",
         "every conv's bias set to -2 (meant to threshold the background noise): every ReLU is at 0 for every "
         "pixel, 7 of 8 tensors get an exactly zero gradient, the heatmap is constant"),
    _bug("keypoint", "hard_argmax", "structure", "params_not_updating",
         "the prediction read from the grid at the heatmap's argmax instead of the soft-argmax's expectation: an "
         "index carries no gradient, the loss does not require grad"),
    _bug("keypoint", "softmax_singleton_channel", "layer", "params_not_updating",
         "heat.softmax(1) over the heatmap's single channel instead of over its flattened positions: every "
         "probability is 1, the prediction is the grid's sum (0) and every gradient is exactly zero"),

    _bug("rle", "targets_sorted_by_length", "data", "labels_not_learnable",
         "in make_batch the targets sorted by length (longest first, meant for packing) while the sources keep "
         "their order: each source meets another example's expansion, and the pairing changes with each fetch"),
    _bug("rle", "targets_rolled_left", "loss", "loss_mismatch",
         "the loss's targets tgt.roll(-1, 1): each step is scored against the token after its own (two ahead of "
         "its input); the loss falls to ~0.02 while the metrics' token accuracy stays ~0.60 and their loss ~2.4"),
    _bug("rle", "forward_sets_train_mode", "structure", "random_eval",
         "forward calls self.train(): the dropout is on in every evaluation (two eval forwards of one batch differ "
         "by 0.19)"),
    _bug("rle", "src_mask_le_len", "mask", "batch_dependence",
         "the source padding mask positions > src_len instead of >=: the first padding position (an encoder output "
         "of zeros) is attended in a padded batch, never alone (alone vs in a batch: 0.15 relative)"),

    _bug("relpos", "pad_mask_from_first_row", "mask", "batch_dependence",
         "the key padding mask pad[:1] (the batch's first row) broadcast to every example instead of pad: the "
         "other rows attend their padding or lose real keys (alone vs in a batch: 0.17 relative)"),
    _bug("relpos", "qkv_std_1", "init", "bad_init_loss",
         "the qkv weights drawn N(0, 1) (14x PyTorch's default 0.072 for 64 inputs): the attention is saturated "
         "from the start; validation accuracy 0.15 after 400 steps on 3000 sequences (clean 1.0)"),
    _bug("relpos", "relbias_plain_tensor", "structure", "params_not_updating",
         "the relative bias table a plain tensor attribute with requires_grad=True instead of an nn.Parameter: "
         "the forward uses it, the optimizer never sees it, the model has no position information"),
    _bug("relpos", "softmax_over_queries", "layer", "nonfinite batch_dependence",
         "the attention softmax over the queries (dim -2) instead of the keys: a padding key's column is all -inf, "
         "so every padded batch turns NaN at the first forward while an example alone stays finite"),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
