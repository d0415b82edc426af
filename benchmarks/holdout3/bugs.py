"""The third held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source: new models and new
variations of the same kinds of mistakes. `named`/`root` use the public codes (VOCABULARY); a code that
describes a real consequence of the bug counts as named.
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("bce", "conv1d", "bigru", "tseq")

BUGS: tuple[Bug, ...] = (
    _bug("bce", "labels_other_split", "data", "labels_not_learnable loss_floor",
         "the training labels taken from another draw (the test split's seed): no relation to the inputs",
         root="labels_not_learnable"),
    _bug("bce", "one_feature_huge", "data", "input_scale", "one feature of 12 in grams (x1000), the rest standardised"),
    _bug("bce", "batch_standardise", "structure", "batch_dependence",
         "forward standardises the inputs with the batch's mean/std (x.mean(0), x.std(0))"),
    _bug("bce", "hand_bce_log0", "loss", "nonfinite log_of_zero",
         "hand-written BCE on sigmoid(logits): a saturated p == 1.0 gives 0 * log(0) = NaN"),

    _bug("conv1d", "adc_counts", "data", "input_scale", "signals in raw ADC counts, 2048 + 1000 x"),
    _bug("conv1d", "zero_init_conv", "init", "params_not_updating dead_units vanishing_gradients",
         "the first strided conv (weight and bias) zero-initialised before BatchNorm + ReLU",
         root="params_not_updating dead_units"),
    _bug("conv1d", "stem_frozen", "structure", "params_not_updating",
         "stem.requires_grad_(False) for a warm-up, never undone"),
    _bug("conv1d", "smoothing_typo", "loss", "loss_floor", "cross_entropy(label_smoothing=0.9) for 0.1"),

    _bug("bigru", "sorted_ids_not_labels", "data", "labels_not_learnable loss_floor",
         "training ids and lengths sorted by length, the labels left in the old order", root="labels_not_learnable"),
    _bug("bigru", "pool_batch_total", "structure", "batch_dependence",
         "mean pool divides by mask.sum() (the batch's tokens) instead of mask.sum(1)"),
    _bug("bigru", "emb_detached", "structure", "params_not_updating", "self.emb(ids).detach() in forward"),
    _bug("bigru", "emb_std100", "init", "saturated_units bad_init_loss vanishing_gradients exploding_gradients",
         "embedding initialised N(0, 100^2) before the GRU", root="saturated_units bad_init_loss"),

    _bug("tseq", "tgt_mask_transposed", "structure", "leakage",
         "generate_square_subsequent_mask(T).T: the decoder sees the future targets, not the past"),
    _bug("tseq", "tgt_mask_diagonal", "structure", "nonfinite",
         "hand causal mask triu(-inf, diagonal=0): a position may not see itself, the first row is all -inf"),
    _bug("tseq", "memory_detached", "structure", "params_not_updating", "memory = encoder(...).detach()"),
    _bug("tseq", "bs1_lr_0.1", "hyperparameter", "lr_too_high nonfinite exploding_gradients",
         "optim.batch_size=1 optim.lr=0.1", root="lr_too_high", overrides=["optim.batch_size=1", "optim.lr=0.1"]),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
