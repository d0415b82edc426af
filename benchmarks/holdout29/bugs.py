"""The twenty-ninth held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source, the policy or the tests: new models
and new variations of the same kinds of mistakes. `named`/`root` use the public codes (VOCABULARY); a code that
describes a real consequence of the bug counts as named. Written and committed before the suite was first run on a
bug; the consequences in `what` were measured in plain PyTorch (the family's optimiser and LR: SGD with momentum 0.9
at 0.05 for gearbox, Adam at 0.003 for the others; batch 32, seed 0, 400 steps on the full training set) against the
clean model (gearbox validation accuracy 0.888 at 400 steps; strokes 0.998; revshift token accuracy 0.999 (0.982 at
100), exact 0.998; dupetag token accuracy 0.963, 0.994 after 1000 steps).
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("gearbox", "strokes", "revshift", "dupetag")

BUGS: tuple[Bug, ...] = (
    _bug("gearbox", "fault_code_column", "data", "leakage",
         "the fault code (0..3) written over standardised feature 5 in both splits: the class id as a feature; "
         "validation accuracy 0.991 after 100 steps, 0.986 after 400 (clean 0.888): a leak"),
    _bug("gearbox", "loss_over_b_squared", "loss", "batch_dependence lr_too_low",
         "cross-entropy summed over the batch and divided by B² (32 x too small a mean): under SGD the steps are 32x "
         "smaller; first loss 0.044, validation accuracy 0.659 after 100 steps, 0.776 after 400 (clean 0.888)",
         root="batch_dependence"),
    _bug("gearbox", "hidden_layer_std3", "init", "bad_init_loss exploding_gradients dead_units",
         "the second hidden layer's weight drawn N(0, 3²) (default bound 1/sqrt(128)): first loss 7.44 (chance log 4 = "
         "1.39), then stuck at chance (validation accuracy 0.265 after 400 steps), no NaN", root="bad_init_loss"),
    _bug("gearbox", "bn_batch_stats_in_eval", "structure", "batch_dependence",
         "F.batch_norm(..., training=True) for self.bn: batch statistics in eval too, no running statistics; trains "
         "as the clean model (0.884 after 400 steps on 1000 validation rows at once), but one row alone raises "
         "'Expected more than 1 value per channel' and pairs of rows score 0.47: predictions depend on the batch"),
    _bug("gearbox", "lr_5", "hyperparameter", "lr_too_high nonfinite exploding_gradients dead_units",
         "optim.lr=5 (for SGD with momentum at 0.05): the loss is NaN before step 100, accuracy 0.25 (chance)",
         root="lr_too_high", overrides=["optim.lr=5"]),

    _bug("strokes", "val_images_transposed", "data", "labels_not_learnable",
         "the validation images stored transposed (a split built differently): horizontal and vertical strokes swap "
         "their labels there; training accuracy 1.0, validation 0.494 (loss 7.4) after 400 steps"),
    _bug("strokes", "featnorm_over_batch", "layer", "batch_dependence division_by_zero nonfinite",
         "the hand-written feature normalisation's mean and std over dim 0 (the batch: each channel and pixel on its "
         "own) instead of (1, 2, 3): trains (0.996 after 400 steps on 500 images at once), but an image alone gives "
         "std over one element, NaN (accuracy 0.29 one image at a time; 0.98 in batches of 4)",
         root="batch_dependence"),
    _bug("strokes", "conv3_bias_minus5", "init", "dead_units params_not_updating vanishing_gradients",
         "nn.init.constant_(conv3.bias, -5): every conv3 unit below zero before its ReLU, no gradient reaches "
         "anything but the head's bias; accuracy 0.23-0.26 (chance) after 400 steps",
         root="dead_units params_not_updating"),
    _bug("strokes", "head_on_detached", "structure", "params_not_updating",
         "the pooled features .detach()ed before the linear head: the three convolutions and the normalisation never "
         "train; validation accuracy 0.372 after 400 steps (clean 0.998)"),
    _bug("strokes", "lr_0.3", "hyperparameter", "lr_too_high nonfinite exploding_gradients dead_units",
         "optim.lr=0.3 (for Adam at 0.003): no NaN, accuracy 0.23-0.26 (chance) after 400 steps", root="lr_too_high",
         overrides=["optim.lr=0.3"]),

    _bug("revshift", "tgt_in_is_tgt", "data", "leakage loss_mismatch",
         "the decoder input built from the targets themselves (tgt_in = tgt) instead of BOS + the targets shifted: "
         "each position reads the token it must output; teacher-forced token accuracy 1.0 from 100 steps on, a model "
         "that cannot decode anything", root="leakage"),
    _bug("revshift", "encoder_unpacked", "mask", "batch_dependence",
         "the encoder run over the padded source without pack_padded_sequence: its final state (the decoder's start) "
         "is taken after the padding; trains nearly as the clean model (token accuracy 0.992, exact 0.95 after 400 "
         "steps, clean 0.999/0.998), but one source alone scores 0.50 (logits differ by up to 15 from the same source "
         "inside a batch): silently batch-dependent"),
    _bug("revshift", "decoder_recurrent_std2", "init", "bad_init_loss saturated_units exploding_gradients "
         "vanishing_gradients",
         "the decoder GRU's recurrent weight drawn N(0, 2²) (default bound 1/sqrt(128)): gates and candidate states at "
         "the rails; first loss 2.58 (chance log 13 = 2.56), token accuracy 0.47, exact 0.02 after 400 steps",
         root="bad_init_loss saturated_units"),
    _bug("revshift", "combine_built_in_forward", "structure", "params_not_updating",
         "self.combine = nn.Linear(256, 128) rebuilt inside forward: new random weights at every call, never the ones "
         "the optimiser holds; token accuracy 0.16 after 400 steps (loss 2.45 of 2.56)"),
    _bug("revshift", "attention_softmax_over_queries", "layer", "nonfinite unstable_softmax leakage",
         "the attention softmax over dim 1 (the decoder steps) instead of the keys: a padding key's column is -inf at "
         "every step, so its softmax is NaN; NaN loss at the first forward", root="nonfinite unstable_softmax"),

    _bug("dupetag", "pad_mask_from_token_1", "mask", "batch_dependence",
         "key_padding_mask = (tokens == 1) instead of == PAD: token 1 hidden as a key, the padding visible; trains "
         "(0.961 after 400 steps, clean 0.963) but one sequence alone scores 0.867 (clean 0.963; logits differ by up "
         "to 8.5 from the same sequence inside a batch): batch-dependent"),
    _bug("dupetag", "ignore_index_1", "loss", "loss_mismatch labels_not_learnable",
         "cross-entropy with ignore_index=1 (the 'once' class) instead of PAD: only padding and 'repeated' positions "
         "are trained; the optimised loss falls to 9e-5 while the training loss of the metrics rises 4.5 -> 5.5 and "
         "token accuracy sticks at 0.431 (the share of repeated tokens)", root="loss_mismatch"),
    _bug("dupetag", "noise_in_eval", "structure", "random_eval",
         "embedding noise (std 0.5) added without checking self.training: evaluation outputs are random; validation "
         "accuracy 0.923 after 400 steps (clean 0.963)"),
    _bug("dupetag", "attn_in_proj_zero", "init", "params_not_updating",
         "nn.init.zeros_ on both blocks' attention in_proj_weight: q = k = 0 block each other's gradient, attention "
         "stays uniform over the real keys; token accuracy 0.634 after 400 steps (clean 0.963)"),
    _bug("dupetag", "lr_3e-6", "hyperparameter", "lr_too_low",
         "optim.lr=3e-6 (for Adam at 0.003): loss 1.27 -> 1.10 in 400 steps, token accuracy 0.44",
         overrides=["optim.lr=3e-6"]),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
