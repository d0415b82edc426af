"""The second held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source: new models and new
variations of the same kinds of mistakes. `named`/`root` use the public codes (VOCABULARY); a code that
describes a real consequence of the bug counts as named.
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("reg", "res", "attn", "dec")

BUGS: tuple[Bug, ...] = (
    _bug("reg", "shuffle_x_only", "data", "labels_not_learnable",
         "x_train[randperm]: the inputs shuffled, the targets not"),
    _bug("reg", "target_thousands", "data", "input_scale lr_too_low loss_floor",
         "regression targets left in dollars (~3000 +- 1000), not standardised", root="input_scale"),
    # loss_mismatch: the code that names a loss not pairing each output with its own target since session 23 (readout.py)
    _bug("reg", "pred_broadcast", "loss", "batch_dependence labels_not_learnable loss_floor loss_mismatch",
         "F.mse_loss((B, 1) predictions, (B,) targets): broadcast to every prediction against every target",
         root="batch_dependence labels_not_learnable loss_mismatch"),
    _bug("reg", "bs1_lr1", "hyperparameter", "lr_too_high nonfinite exploding_gradients",
         "optim.batch_size=1 optim.lr=1", root="lr_too_high", overrides=["optim.batch_size=1", "optim.lr=1"]),

    _bug("res", "log_intensity", "data", "nonfinite log_of_zero",
         "pixels.log() before standardising: the dark (exactly 0) pixels become -inf"),
    _bug("res", "groupnorm_reshape", "structure", "batch_dependence",
         "hand GroupNorm reshapes to (groups, -1): the statistics mix the batch's examples"),
    _bug("res", "shortcut_in_forward", "structure", "params_not_updating batch_dependence",
         "the 1x1 shortcut conv created inside forward: fresh random weights each call, never optimised",
         root="params_not_updating"),
    _bug("res", "zero_init_all", "init", "params_not_updating dead_units vanishing_gradients",
         "every parameter zero-initialised \"for reproducibility\"", root="params_not_updating dead_units"),

    _bug("attn", "tgt_in_unshifted", "data", "leakage",
         "decoder input tgt[:, 1:] like the target: the decoder is fed the word it must predict"),
    _bug("attn", "mask_wrong_axis", "structure", "nonfinite",
         "src mask broadcast as [:, :, None] (over queries) instead of [:, None, :]: padded query rows all -inf"),
    _bug("attn", "src_emb_std30", "init", "saturated_units bad_init_loss exploding_gradients vanishing_gradients",
         "source embedding initialised N(0, 30^2) before the encoder GRU", root="saturated_units bad_init_loss"),
    _bug("attn", "lr_3e-6", "hyperparameter", "lr_too_low", "optim.lr=3e-6", overrides=["optim.lr=3e-6"]),

    _bug("dec", "mask_lower", "structure", "leakage",
         "causal mask tril(diagonal=-1) as the blocked set: every position sees the future, not the past"),
    _bug("dec", "mask_diagonal", "structure", "nonfinite",
         "causal mask triu(diagonal=0): a position may not see itself, the first row is all -inf"),
    _bug("dec", "keys_detached", "structure", "params_not_updating", "k = self.k(x).detach() (\"cached keys\")"),
    # loss_mismatch: the code that names a normalisation over the wrong dimension since session 22 (readout.py)
    _bug("dec", "log_softmax_time", "loss", "loss_floor loss_mismatch",
         "log_softmax(logits, dim=1) of (B, T, V): normalised over positions, not over the vocabulary"),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
