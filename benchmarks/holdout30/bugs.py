"""The thirtieth held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source, the policy or the tests: new models
and new variations of the same kinds of mistakes. `named`/`root` use the public codes (VOCABULARY); a code that
describes a real consequence of the bug counts as named. Written and committed before the suite was first run on a
bug; the consequences in `what` were measured in plain PyTorch (the family's optimiser and LR: Adam at 0.01 for
spiral, at 0.003 for the others; batch 32, seed 0, 400 steps on the full training set) against the clean model
(spiral validation accuracy 0.998 at 100 steps, 0.994 at 400; shapes 0.944 / 0.980; doubler token accuracy 0.979 /
0.996, exact 0.96 at 400; fiblm token accuracy 0.898 / 1.0, exact 1.0 at 400).
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("spiral", "shapes", "doubler", "fiblm")

BUGS: tuple[Bug, ...] = (
    _bug("spiral", "train_labels_rolled", "data", "labels_not_learnable",
         "np.roll(y_train, 1): each training point gets the previous point's arm (validation untouched); training "
         "accuracy 0.366, validation 0.365 after 400 steps, the loss at chance (1.09)"),
    _bug("spiral", "nll_on_logits", "loss", "loss_unbounded loss_mismatch",
         "F.nll_loss on the raw logits (no log_softmax): the loss is minus the target's logit, unbounded below; "
         "first loss -0.01, -5e4 after 100 steps, -7e6 after 400, validation accuracy 0.318 (cross-entropy 3.4e4)",
         root="loss_unbounded loss_mismatch"),
    _bug("spiral", "first_layer_std30", "init", "bad_init_loss exploding_gradients dead_units",
         "nn.init.normal_(fc1.weight, std=30) (default bound 1/sqrt(6)): first loss 11.4 (chance log 3 = 1.10); "
         "validation accuracy 0.967 after 100 steps, 0.960 after 400 (clean 0.994), no NaN", root="bad_init_loss"),
    _bug("spiral", "dropout_in_eval", "structure", "random_eval",
         "F.dropout(h, 0.1) instead of self.drop: dropout also in eval mode; trains (0.999 after 400 steps), but two "
         "evaluations of the same weights differ (validation loss 0.0031 vs 0.0035, accuracy 1.0 vs 0.999)"),
    _bug("spiral", "lr_1e-5", "hyperparameter", "lr_too_low",
         "optim.lr=1e-5 (for Adam at 0.01): loss 1.10 -> 0.98 in 400 steps, validation accuracy 0.72",
         overrides=["optim.lr=1e-5"]),

    _bug("shapes", "val_pixels_0_255", "data", "labels_not_learnable",
         "the validation images kept raw and scaled x255 while the training images are standardised (a split built "
         "differently); training accuracy 0.955, validation 0.35 (loss 294) after 100 steps; 0.993 and 0.906 (loss 6.9, "
         "clean 0.063) after 400"),
    _bug("shapes", "stem_zero_init", "init", "params_not_updating dead_units vanishing_gradients",
         "nn.init.zeros_(stem.weight): the stem's output is its bias, constant over the image; BatchNorm maps it to 0 "
         "and ReLU(0) passes no gradient back, so the image barely reaches the net; the training batch loss falls "
         "(0.016, float noise amplified by the BatchNorms) but validation accuracy is 0.662 after 100 steps, 0.682 "
         "after 400 (clean 0.980)", root="params_not_updating dead_units"),
    _bug("shapes", "blocks_in_plain_list", "structure", "params_not_updating batch_dependence",
         "self.blocks = [ResBlock(16), ResBlock(16)] (a Python list) instead of nn.Sequential: the two residual blocks "
         "are not registered, so the optimiser never holds them and model.eval() leaves their BatchNorms in training "
         "mode; validation accuracy 0.732 after 100 steps, 0.912 after 400 (clean 0.980)",
         root="params_not_updating"),
    _bug("shapes", "pool_over_active", "layer", "division_by_zero nonfinite",
         "the hand-written global pool divides the sum by the count of positive pixels (h > 0).sum((2, 3)) instead of "
         "H x W: a channel dead on an image is 0 / 0; the loss is NaN at the first forward"),
    _bug("shapes", "lr_1", "hyperparameter", "lr_too_high nonfinite exploding_gradients dead_units",
         "optim.lr=1 (for Adam at 0.003): no NaN, validation accuracy 0.924 after 100 steps, 0.928 after 400 "
         "(validation loss 0.28, clean 0.06)", root="lr_too_high", overrides=["optim.lr=1"]),

    _bug("doubler", "sources_sorted_alone", "data", "labels_not_learnable",
         "make_batch sorts the sources by length (longest first) but not the targets: each source meets another "
         "pair's target; token accuracy 0.573 after 100 steps, 0.579 after 400, exact 0.0"),
    _bug("doubler", "attention_unmasked", "mask", "batch_dependence",
         "the masked_fill of the padding keys skipped: attention also reads the zero encoder outputs at padding "
         "positions; trains (token accuracy 0.995 after 400 steps, exact 0.946) but a source alone scores 0.994 "
         "against 0.995 in its batch, with logits differing by up to 4.7: silently batch-dependent"),
    _bug("doubler", "loss_on_tgt_in", "loss", "loss_mismatch labels_not_learnable",
         "cross-entropy against tgt_in (BOS + the target shifted) instead of tgt: the decoder learns to copy its own "
         "input token; the optimised loss falls to 7.5e-5 while the metrics' training loss rises to 6.1 and token "
         "accuracy sticks at 0.50 (the second copy of each letter)", root="loss_mismatch"),
    _bug("doubler", "decoder_hh_constant", "init", "saturated_units vanishing_gradients exploding_gradients",
         "nn.init.constant_(decoder.weight_hh_l0, 0.5): every recurrent input of 128 units summed with weight 0.5, "
         "gates and cell candidates at the rails; first loss 2.46 (chance log 11 = 2.40), token accuracy 0.27 after "
         "100 steps, 0.30 after 400, exact 0.0", root="saturated_units"),
    _bug("doubler", "encoder_outputs_detached", "structure", "params_not_updating",
         "enc.detach() before the attention: the encoder learns only through its final state; token accuracy 0.828 "
         "after 100 steps, 0.964 after 400, exact 0.70 (clean 0.979 / 0.996, exact 0.96)"),

    _bug("fiblm", "causal_mask_transposed", "mask", "leakage nonfinite",
         "the causal mask built with tril(-1) instead of triu(1): each position sees itself and the future, not the "
         "past; a padded query then sees only padding keys, a fully -inf row, NaN that the next block spreads through "
         "its values; the loss is NaN at the first forward"),
    _bug("fiblm", "norm_over_time", "layer", "leakage batch_dependence",
         "the hand-written LayerNorm's mean and variance over dim 1 (the positions, padding included) instead of the "
         "features: every position reads statistics of later positions and of the padding; trains (token accuracy "
         "0.9995 in batches after 400 steps), but a sequence alone scores 0.979, logits differing by up to 16"),
    _bug("fiblm", "targets_time_major", "loss", "batch_dependence labels_not_learnable loss_mismatch",
         "cross-entropy of the batch-first logits flattened against b[1].t().flatten(): outputs paired with other "
         "sequences' targets; token accuracy 0.10 after 400 steps (chance), loss 2.31 (log 10 = 2.30)",
         root="batch_dependence labels_not_learnable"),
    _bug("fiblm", "pos_std30", "init", "bad_init_loss",
         "nn.init.normal_(pos.weight, std=30) (default 1): the positions drown the tokens in the residual stream; "
         "token accuracy 0.10 after 100 and 400 steps, loss 2.31 (chance 2.30), first loss 2.54"),
    _bug("fiblm", "lr_0.1", "hyperparameter", "lr_too_high nonfinite exploding_gradients dead_units",
         "optim.lr=0.1 (for Adam at 0.003): no NaN, token accuracy 0.15 after 100 and 400 steps, loss 2.11",
         root="lr_too_high", overrides=["optim.lr=0.1"]),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
