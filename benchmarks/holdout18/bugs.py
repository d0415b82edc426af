"""The eighteenth held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source: new models and new
variations of the same kinds of mistakes. `named`/`root` use the public codes (VOCABULARY); a code that
describes a real consequence of the bug counts as named. Written before the suite was first run.
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("ordinal", "dilseg", "gsort", "revformer")

BUGS: tuple[Bug, ...] = (
    _bug("ordinal", "cumulative_targets_ge", "loss", "loss_mismatch",
         "the loss's cumulative targets written [y >= k] instead of [y > k]: the loss trains the scores one class "
         "up (the top two classes merged), so the loss falls while the predicted classes (counted positive logits) "
         "miss and the metrics' own cumulative BCE rises"),
    _bug("ordinal", "val_labels_misaligned", "data", "labels_not_learnable",
         "the validation labels sliced y[:400] (the first training rows' labels) instead of y[4000:]: training is "
         "sound, the validation inputs are paired with other rows' classes"),
    _bug("ordinal", "bce_by_hand", "layer", "log_of_zero nonfinite",
         "the BCE written out as -(t log sigmoid(z) + (1 - t) log(1 - sigmoid(z))): once a logit passes ~17, "
         "sigmoid rounds to 1, log(0) = -inf and 0 x -inf = NaN", root="log_of_zero"),
    _bug("ordinal", "constant_init_loop", "init", "symmetric_units",
         "the init loop over the Linears calls nn.init.constant_(w, 0.05) where xavier_uniform_ was meant: every "
         "hidden unit of both layers starts identical and gets the same gradient"),

    _bug("dilseg", "masks_transposed", "data", "labels_not_learnable",
         "the masks transposed against the images (stored (x, y) for (row, col)), both splits: each pixel's label "
         "belongs to the mirrored pixel"),
    _bug("dilseg", "ignore_background", "loss", "loss_mismatch",
         "cross_entropy(..., ignore_index=0): the background class taken for a void label, so the loss only "
         "asks for square vs disc and falls to ~0 by calling every pixel a shape, while the pixel accuracy and "
         "the full per-pixel loss get worse"),
    _bug("dilseg", "stem_built_in_forward", "structure", "params_not_updating random_eval",
         "the stem written nn.Conv2d(1, 16, 3, padding=1)(x) inside forward: new random weights at every call, "
         "never in the optimizer (self.stem left unused)", root="params_not_updating"),
    _bug("dilseg", "lr_3", "hyperparameter", "lr_too_high nonfinite exploding_gradients",
         "optim.lr=3 (1000x Adam's 0.003) on a conv net without normalisation", root="lr_too_high",
         overrides=["optim.lr=3"]),

    _bug("gsort", "src_len_padded", "data", "batch_dependence",
         "the batch's src_len filled with the padded length: the packed encoder reads the padding, so its final "
         "state (the decoder's start) depends on the longest source in the batch"),
    _bug("gsort", "attention_softmax_over_steps", "layer", "leakage batch_dependence",
         "the attention weights softmax(1) over the decoder steps instead of softmax(-1) over the source "
         "positions: each step's context depends on the later steps' queries (the future target tokens) and on "
         "the target padding"),
    _bug("gsort", "decoder_normal_init", "init",
         "bad_init_loss saturated_units exploding_gradients vanishing_gradients",
         "the decoder GRU's weight_ih and weight_hh re-initialised with nn.init.normal_ without a std (1 for the "
         "default U(+-0.10), std 0.059): 17x the default scale, the gates saturate",
         root="bad_init_loss saturated_units"),
    _bug("gsort", "nll_on_logits", "loss", "loss_unbounded",
         "F.nll_loss on the raw logits (no log_softmax): minus the target's logit, which falls without bound"),

    _bug("revformer", "causal_mask_tril", "mask", "leakage nonfinite",
         "the boolean causal mask built torch.tril(ones) (True read as 'may look'), where nn.MultiheadAttention "
         "reads True as 'may not': each position sees only the later ones, the last (and each one followed only "
         "by padding) sees none: NaN"),
    _bug("revformer", "memory_mask_dropped", "mask", "batch_dependence",
         "the cross attention called with key_padding_mask=None: the decoder attends to the source padding, so "
         "an example's outputs depend on the longest source in its batch"),
    _bug("revformer", "layers_in_list", "structure", "params_not_updating",
         "the encoder layers kept in a plain Python list instead of nn.ModuleList: not registered, not in the "
         "optimizer, never trained (model.parameters() misses them)"),
    _bug("revformer", "lr_1e-6", "hyperparameter", "lr_too_low", "optim.lr=1e-6 (1000x below Adam's 0.001)",
         overrides=["optim.lr=1e-6"]),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
