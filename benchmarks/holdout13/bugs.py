"""The thirteenth held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source: new models and new
variations of the same kinds of mistakes. `named`/`root` use the public codes (VOCABULARY); a code that
describes a real consequence of the bug counts as named. Written before the suite was first run.
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("luong", "tagger", "multilabel", "ranknet")

BUGS: tuple[Bug, ...] = (
    _bug("luong", "sources_bucketed_alone", "data", "labels_not_learnable loss_floor",
         "the training sources (and their lengths) sorted by length for bucketing, the target dates left in file "
         "order: each source is paired with another date's answer", root="labels_not_learnable"),
    _bug("luong", "mask_from_batch_max", "mask", "batch_dependence",
         "the attention mask built from the batch's longest source (arange < src_len.max()) instead of each "
         "source's own length: the padding gets attention weight as far as the longest batch-mate reaches"),
    _bug("luong", "memory_norm_no_eps", "layer", "nonfinite division_by_zero",
         "the encoder outputs normalised by hand, (h - mean) / std without eps: pad_packed_sequence's zero "
         "vectors at the padded positions give 0 / 0, and the NaN memory reaches every context"),
    _bug("luong", "lr_3", "hyperparameter", "lr_too_high nonfinite exploding_gradients",
         "optim.lr=3 (for Adam at 0.003)", root="lr_too_high", overrides=["optim.lr=3"]),

    _bug("tagger", "tags_flattened_transposed", "loss", "labels_not_learnable loss_floor batch_dependence",
         "the (B, T) tags flattened as tags.t().reshape(-1) against logits flattened batch-major: each token's "
         "loss reads another example's tag at another position, an order that changes with the batch",
         root="labels_not_learnable batch_dependence"),
    _bug("tagger", "self_masked", "mask", "nonfinite",
         "the attention mask also blocks the diagonal (\"a token may not copy itself\"): a one-token sequence has "
         "no key left, its softmax row is all -inf (NaN)"),
    _bug("tagger", "query_key_zero_init", "init", "params_not_updating",
         "the query and key projections (no bias) both initialised to zero for a \"uniform start\": the scores "
         "are 0 whatever the weights' gradients, which are exactly 0, so attention stays uniform and cannot find "
         "a token's neighbours"),
    _bug("tagger", "lr_1e-6", "hyperparameter", "lr_too_low",
         "optim.lr=1e-6 (for Adam at 0.003)", overrides=["optim.lr=1e-6"]),

    _bug("multilabel", "val_labels_from_train", "data", "labels_not_learnable",
         "the validation labels sliced from the training table (y[:500]) instead of the validation one: training "
         "fits, validation stays at the blind score"),
    _bug("multilabel", "bce_arguments_swapped", "loss", "loss_unbounded",
         "binary_cross_entropy_with_logits(labels, logits): the logits become the targets, a loss linear in "
         "each present label's logit, falling without bound"),
    _bug("multilabel", "groupnorm_made_in_forward", "structure", "params_not_updating",
         "the third GroupNorm constructed inside forward(): its affine weight and bias are new tensors at each "
         "call, never the model's parameters, never trained"),
    _bug("multilabel", "grey_levels_0_255", "data", "input_scale",
         "the 8-bit grey levels fed as read (0..255), not divided by 255"),

    _bug("ranknet", "price_in_cents", "data", "input_scale bad_init_loss exploding_gradients lr_too_high",
         "feature 3 (a price) left in cents, 2000 + 500 z, the other nine standardised",
         root="input_scale bad_init_loss"),
    _bug("ranknet", "hand_sigmoid_log", "layer", "nonfinite log_of_zero",
         "RankNet's cross-entropy written by hand on p = 1 / (1 + exp(-logit)): once a pair's logit passes ~17 p "
         "rounds to 1.0 and (1 - y) log(1 - p) is 0 x -inf = NaN", root="log_of_zero"),
    _bug("ranknet", "swapped_without_flip", "data", "labels_not_learnable loss_floor",
         "an order augmentation swaps the two items of half the training pairs at random without flipping their "
         "labels: the labels no longer follow from the pair", root="labels_not_learnable"),
    _bug("ranknet", "bs1_lr_1", "hyperparameter", "lr_too_high nonfinite exploding_gradients",
         "optim.batch_size=1 optim.lr=1 (for 32 and Adam at 0.003)", root="lr_too_high",
         overrides=["optim.batch_size=1", "optim.lr=1"]),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
