"""The held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

None of these lines, models or data sets existed when the diagnostics were tuned; they are new variations
of the same kinds of mistakes. `named`/`root` use docs/diagnostics.md's public codes (VOCABULARY).
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("mlp2", "cnn2", "lstm", "tfm")

BUGS: tuple[Bug, ...] = (
    _bug("mlp2", "labels_sorted", "data", "labels_not_learnable", "y.sort(): labels sorted, the points not"),
    _bug("mlp2", "radius_in_mm", "data", "input_scale", "one of four features x1000, the rest standardised"),
    _bug("mlp2", "std_zero_column", "data", "nonfinite division_by_zero",
         "standardise without eps: a constant column becomes 0/0 = NaN"),
    _bug("mlp2", "ce_on_probs", "loss", "loss_floor", "F.cross_entropy(logits.softmax(-1), y)"),
    _bug("mlp2", "zero_init_first", "init", "dead_units params_not_updating vanishing_gradients",
         "first Linear weight and bias all zero (before LayerNorm and ReLU)", root="dead_units params_not_updating"),

    _bug("cnn2", "pixels_0_255", "data", "input_scale", "raw 0..255 pixels into conv + BatchNorm"),
    _bug("cnn2", "standardise_over_batch", "structure", "batch_dependence",
         "input standardised with mean/std over dim 0 (the batch) in forward"),
    _bug("cnn2", "no_grad_block1", "structure", "params_not_updating", "torch.no_grad() around the first conv block"),
    _bug("cnn2", "head_std3", "init", "bad_init_loss saturated_units", "classifier weights N(0, 3)",
         root="bad_init_loss"),

    _bug("lstm", "targets_shifted", "data", "labels_not_learnable", "tag t is the running sum up to t+1"),
    _bug("lstm", "head_in_list", "structure", "params_not_updating",
         "output Linear kept in a plain Python list: not registered, never optimised"),
    _bug("lstm", "norm_sqrt_zero", "layer", "division_by_zero nonfinite",
         "states / sqrt(sum states^2) without eps: padded states are exactly 0", root="division_by_zero"),
    _bug("lstm", "lr_1e-5", "hyperparameter", "lr_too_low", "optim.lr=1e-5", overrides=["optim.lr=1e-5"]),

    _bug("tfm", "mask_inverted", "structure", "nonfinite labels_not_learnable",
         "key_padding_mask = tokens != PAD: CLS attends only to padding (train: no signal; eval: NaN rows)"),
    _bug("tfm", "embedding_data", "structure", "params_not_updating", "emb.weight.data[tokens]: no gradient"),
    _bug("tfm", "lr_1", "hyperparameter", "lr_too_high", "optim.lr=1", overrides=["optim.lr=1"]),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
