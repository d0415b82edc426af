"""The ninth held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source: new models and new
variations of the same kinds of mistakes. `named`/`root` use the public codes (VOCABULARY); a code that
describes a real consequence of the bug counts as named. Written before the suite was first run.
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("pixelcnn", "packed", "multitask", "flow")

BUGS: tuple[Bug, ...] = (
    _bug("pixelcnn", "mask_sees_centre", "mask", "leakage",
         "mask B instead of A on the first masked conv: each pixel's logit sees the pixel itself"),
    _bug("pixelcnn", "inputs_shuffled", "data", "labels_not_learnable",
         "the training inputs permuted once, the target images not: each image predicted from another's pixels"),
    _bug("pixelcnn", "hand_log_sigmoid", "layer", "nonfinite log_of_zero",
         "the NLL written as x log p + (1 - x) log(1 - p) with p = sigmoid(logits): log(0) once a pixel is "
         "confident (sigmoid rounds to 1 above ~17)"),
    _bug("pixelcnn", "lr_3e-6", "hyperparameter", "lr_too_low",
         "optim.lr=3e-6 (for 0.003)", overrides=["optim.lr=3e-6"]),

    _bug("packed", "sorted_not_restored", "structure", "batch_dependence labels_not_learnable loss_floor",
         "the batch sorted by length for packing and the outputs never put back: row i is another example's",
         root="batch_dependence labels_not_learnable"),
    _bug("packed", "padded_last_step", "structure", "batch_dependence",
         "the classifier reads the last padded step of pad_packed_sequence (zeros unless the batch's longest), "
         "not h_n"),
    _bug("packed", "embedding_std_100", "init", "saturated_units vanishing_gradients exploding_gradients",
         "the token embedding initialised with std 100: the LSTM's gates start at their rails",
         root="saturated_units vanishing_gradients"),
    _bug("packed", "embedding_frozen", "structure", "params_not_updating",
         "the randomly initialised embedding frozen (requires_grad_(False)) as if it were pretrained"),

    _bug("multitask", "ink_not_standardised", "data", "input_scale bad_init_loss exploding_gradients",
         "the ink target left as the raw sum of intensities (~300) while the loss weights assume a standardised one",
         root="input_scale bad_init_loss"),
    _bug("multitask", "digits_off_by_one", "data", "labels_not_learnable loss_floor",
         "the training digits sliced [1:N+1]: each image gets the next image's label", root="labels_not_learnable"),
    _bug("multitask", "ink_shape_broadcast", "loss", "batch_dependence",
         "the ink prediction kept (B, 1) against (B,) targets: the MSE broadcasts to (B, B)"),
    _bug("multitask", "first_layer_frozen", "structure", "params_not_updating",
         "the trunk's first layer frozen (requires_grad_(False)) for a warm-up and never unfrozen"),

    _bug("flow", "divide_by_std_forgotten", "data", "input_scale bad_init_loss exploding_gradients nonfinite",
         "the points centred but not divided by their std: coordinates in canvas pixels (std ~100-200)",
         root="input_scale bad_init_loss"),
    _bug("flow", "scale_unbounded", "layer",
         "nonfinite unstable_softmax loss_unbounded exploding_gradients",
         "the coupling's log-scale used raw, without its tanh bound: exp(s) is free to blow up while memorising"),
    _bug("flow", "couplings_in_list", "structure", "params_not_updating",
         "the coupling layers kept in a plain Python list, not an nn.ModuleList: none of them is trained"),
    _bug("flow", "lr_1", "hyperparameter", "lr_too_high nonfinite exploding_gradients",
         "optim.lr=1 (for 0.001)", root="lr_too_high", overrides=["optim.lr=1"]),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
