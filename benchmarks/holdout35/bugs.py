"""The thirty-fifth held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source, the policy or the tests: new models
on new synthetic data and new variations of the same kinds of mistakes. `named`/`root` use the public codes
(VOCABULARY); a code that describes a real consequence of the bug counts as named. Decided and committed before the
suite was first run on a bug. The consequences in `what` were measured in a plain PyTorch loop (the family's
optimiser and LR: Adam at 0.003 for battery and morse, 0.002 for clocks, 0.001 for skyline; batch 32, seed 0, the
full training set) against the clean model: battery validation R² 0.932 / 0.941 after 100 / 400 steps; clocks
validation accuracy 0.987 / 1.0; morse token accuracy 0.748 / 0.998 (exact 0.992 at 400); skyline token accuracy
0.9986 / 1.0 (exact 0.988 / 1.0).
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("battery", "clocks", "morse", "skyline")

BUGS: tuple[Bug, ...] = (
    _bug("battery", "target_in_features", "data", "leakage",
         "zt[:, 0:] instead of zt[:, 1:]: the feature slice starts at the state-of-health column, so the target is "
         "a feature (9 inputs); validation R² 0.991 / 0.998 after 100 / 400 steps, validation MSE 0.0025 against a "
         "best_loss (the noise) of 0.051"),
    _bug("battery", "train_targets_raw", "data", "input_scale labels_not_learnable",
         "the training targets left in % of capacity (mean 82, std 10) while the validation targets are standardised "
         "(a train/val mismatch of the target's normalisation); first loss 6.8e3; training R² -0.33 / 0.40 after "
         "100 / 400 steps, validation R² -5.7e3", root="input_scale"),
    # loss_mismatch: the code that names a loss not pairing each output with its own target since session 23 (readout.py)
    _bug("battery", "mse_pairs_broadcast", "loss", "batch_dependence labels_not_learnable loss_mismatch",
         "(model(x) - y).pow(2).mean() with the model's (B, 1) output against (B,) targets: a hand-written MSE "
         "over every (prediction, other example's target) pair (no PyTorch warning); R² 0.043 / 0.061 after 100 / 400 "
         "steps: every prediction goes to the batch's mean"),
    _bug("battery", "all_constant_init", "init", "symmetric_units",
         "for p in self.parameters(): nn.init.constant_(p, 0.05): every weight and bias of every layer the same, so "
         "the units of each layer stay copies (a one-unit-wide net); first loss 3.05, R² 0.0 after 400 steps"),
    _bug("battery", "lr_2e-6", "hyperparameter", "lr_too_low",
         "optim.lr=2e-6 (for Adam at 0.003): R² -0.04 / -0.03 after 100 / 400 steps", overrides=["optim.lr=2e-6"]),

    _bug("clocks", "head_softmax", "loss", "loss_floor overfit_batch_size_1",
         "the model returns logits.softmax(-1) and the loss is cross_entropy (softmax applied twice): a floor of "
         "log(e + 11) - 1 = 1.62 over 12 classes (chance 2.48); validation accuracy 0.797 / 0.903 after 100 / 400 "
         "steps (clean 0.987 / 1.0)", root="loss_floor"),
    _bug("clocks", "norm_over_batch", "layer", "batch_dependence",
         "the hand-written per-example normalisation takes its statistics over dims (0, 2, 3) (the batch and the "
         "pixels) instead of (1, 2, 3): batch statistics in eval too; trains (validation accuracy 0.988 / 1.0 after "
         "100 / 400 steps)"),
    _bug("clocks", "flip_label_kept", "data", "labels_not_learnable",
         "the random left-right mirroring of the training faces keeps the hour instead of mapping it to (12 - k) "
         "mod 12 (an augmentation that changes the label); validation accuracy 0.717 / 0.483 after 100 / 400 steps"),
    _bug("clocks", "head_init_normal", "init", "bad_init_loss",
         "nn.init.normal_(self.head.weight): std 1 instead of PyTorch's ~0.017 for 1152 inputs (58x); first loss 78 "
         "(chance 2.48); validation accuracy 0.883 / 0.968 after 100 / 400 steps"),
    _bug("clocks", "stem_detached", "structure", "params_not_updating",
         "h.detach() after the first conv block: conv1 and its normalisation get no gradient (random features kept); "
         "trains (validation accuracy 0.985 / 0.998 after 100 / 400 steps)"),

    _bug("morse", "sources_sorted_alone", "data", "labels_not_learnable",
         "sorted(srcs, key=len, reverse=True) for pack_padded_sequence(enforce_sorted=True) without reordering the "
         "targets: in every batch the sources meet other words' letters; token accuracy 0.229 / 0.236 after 100 / 400 "
         "steps"),
    _bug("morse", "tgt_in_unshifted", "loss", "leakage",
         "tgt_in = the targets themselves instead of BOS + the targets but the last (no shift): the decoder reads the "
         "letter it predicts; token accuracy 1.0 after 100 steps"),
    _bug("morse", "enc_hh_gain25", "init", "bad_init_loss saturated_units vanishing_gradients exploding_gradients",
         "nn.init.orthogonal_(encoder.weight_hh_l0, gain=25): recurrent weights ~25x PyTorch's default scale, the "
         "encoder's states at the rails; first loss 2.74 (normal); token accuracy 0.263 / 0.413 after 100 / 400 "
         "steps", root="bad_init_loss saturated_units"),
    _bug("morse", "attn_pad_fill_zero", "layer", "batch_dependence",
         "scores.masked_fill(pad, 0.0) instead of -inf: PAD keys get attention weight, so an output depends on how "
         "much padding its batch adds; trains (token accuracy 0.718 / 0.999 after 100 / 400 steps)"),
    _bug("morse", "ctx_dropout_in_eval", "structure", "random_eval",
         "F.dropout(ctx, 0.1) without training=self.training: dropout on the attention context at evaluation too; "
         "token accuracy 0.745 / 0.997 after 100 / 400 steps, exact 0.984 (clean 0.992)"),

    _bug("skyline", "pad_mask_dropped", "mask", "batch_dependence",
         "allowed = the causal mask alone: real queries see the left padding's keys; trains (token accuracy 0.973 / "
         "1.0 after 100 / 400 steps, exact 0.828 at 100 against the clean 0.988)"),
    _bug("skyline", "causal_excludes_self", "mask", "nonfinite",
         "tril(-1) instead of tril(): no query sees its own position, so the first position's row has no key (all "
         "-inf): the loss is NaN at the first forward and stays NaN"),
    _bug("skyline", "layernorm_over_time", "layer", "batch_dependence",
         "the hand-written LayerNorm's statistics over dim 1 (the positions, padding included) instead of the "
         "features: each position reads later positions and the padding; token accuracy 0.976 / 0.999 after 100 / 400 "
         "steps"),
    _bug("skyline", "qk_zero_init", "init", "params_not_updating",
         "the q and k projections zero-initialised in both blocks: scores 0, and each blocks the other's gradient, so "
         "they never move (uniform causal attention); the model still learns the running maximum from the averaged "
         "values (token accuracy 0.988 / 1.0 after 100 / 400 steps)"),
    _bug("skyline", "lr_2", "hyperparameter", "lr_too_high nonfinite exploding_gradients",
         "optim.lr=2 (for Adam at 0.001); at 0.5 the plain loop still reached token accuracy 0.90 after 400 steps",
         root="lr_too_high", overrides=["optim.lr=2"]),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
