"""The twenty-eighth held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source or tests: new models and new
variations of the same kinds of mistakes. `named`/`root` use the public codes (VOCABULARY); a code that
describes a real consequence of the bug counts as named. Written and committed before the suite was first run on a
bug; the consequences in `what` were measured in plain PyTorch (the family's optimiser and LR: SGD with momentum 0.9
at 0.05 for rings, Adam at 0.003 for the others; batch 32, seed 0, 400 steps on the full training set) against the
clean model (rings validation accuracy 0.985 at 400 steps; digitcnn 0.975; dedup token accuracy 0.994, exact 0.97;
steplm 1.0 from 100 steps on).
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("rings", "digitcnn", "dedup", "steplm")

BUGS: tuple[Bug, ...] = (
    _bug("rings", "coords_in_metres", "data", "input_scale nonfinite lr_too_high exploding_gradients dead_units",
         "the raw readings fed (offsets of +-3000 m, altitude 400 m, dBm, °C, a share), the standardisation skipped: "
         "first loss 59.8 (chance log 3 = 1.10), then stuck at chance (accuracy 0.33 after 400 steps), no NaN",
         root="input_scale"),
    _bug("rings", "val_classes_reversed", "data", "labels_not_learnable",
         "the validation labels numbered outside-in (2 - ring) while training's are inside-out: a split built "
         "differently; training accuracy 0.99, validation 0.32 (loss 23.8) after 400 steps"),
    _bug("rings", "hidden_init_zero", "init", "params_not_updating symmetric_units vanishing_gradients dead_units",
         "nn.init.zeros_ on both hidden layers' weights: every hidden unit is 0 (ReLU of the bias alone, all equal), "
         "no gradient reaches the first layer; accuracy 0.33 (chance) after 400 steps",
         root="params_not_updating symmetric_units"),
    _bug("rings", "ce_reduction_sum", "loss", "bad_init_loss lr_too_high nonfinite exploding_gradients dead_units",
         "F.cross_entropy(..., reduction='sum'): the loss summed over the batch of 32, so SGD with momentum takes "
         "32x larger steps; first loss 34.8, accuracy 0.33 (chance) after 400 steps, no NaN",
         root="bad_init_loss lr_too_high"),
    _bug("rings", "lr_2", "hyperparameter", "lr_too_high nonfinite exploding_gradients dead_units",
         "optim.lr=2 (for SGD with momentum at 0.05): no NaN, accuracy 0.33 (chance) after 400 steps",
         root="lr_too_high", overrides=["optim.lr=2"]),

    _bug("digitcnn", "labels_sorted_in_batch", "data", "labels_not_learnable",
         "get_batch returns y[idx.sort().values] beside x[idx]: the labels fetched in sorted index order, the images "
         "not, so each image carries another's label; accuracy 0.10 (chance) after 400 steps"),
    _bug("digitcnn", "loss_on_probabilities", "loss", "loss_floor",
         "F.cross_entropy on logits.softmax(-1): the loss on probabilities, which cannot fall below ~1.46; the "
         "optimised loss 1.52 after 400 steps while validation accuracy reaches 0.962 (clean 0.975)"),
    _bug("digitcnn", "image_norm_wrong_dim", "layer", "division_by_zero nonfinite",
         "each image standardised over dim 1 (its single channel) instead of (2, 3): x.std over one element is NaN, "
         "NaN at the first forward"),
    _bug("digitcnn", "stem_under_no_grad", "structure", "params_not_updating",
         "the first convolution run under torch.no_grad(): it never trains; validation accuracy 0.965 after 400 "
         "steps (clean 0.975): silently untrained"),
    _bug("digitcnn", "lr_0.1", "hyperparameter", "lr_too_high nonfinite exploding_gradients dead_units",
         "optim.lr=0.1 (for Adam at 0.003): no NaN, accuracy 0.10 (chance) after 400 steps", root="lr_too_high",
         overrides=["optim.lr=0.1"]),

    _bug("dedup", "targets_time_major", "data", "batch_dependence loss_mismatch labels_not_learnable",
         "the loss flattens the (B, T) targets time-major (.t().flatten()) against batch-first logits: targets in "
         "the wrong layout, each position scored against another example's token; token accuracy 0.20 after 400 "
         "steps (loss 2.15, chance log 11 = 2.40)", root="batch_dependence labels_not_learnable"),
    _bug("dedup", "pad_keys_unmasked", "mask", "batch_dependence",
         "the attention's masked_fill over padding keys left out: a short source's decoder also reads the padding "
         "of the batch's longest; trains as the clean model (0.994 after 400 steps): silently batch-dependent"),
    _bug("dedup", "tgt_emb_in_dict", "structure", "params_not_updating",
         "the target embedding kept in a plain dict (self.parts = {'tgt_emb': nn.Embedding(...)}): not registered, "
         "never in the optimiser, frozen at its random init; the model learns around it (0.999 after 400 steps): "
         "silently untrained"),
    _bug("dedup", "dropout_in_eval", "structure", "random_eval",
         "F.dropout(enc, 0.2) on the encoder outputs, training=self.training left out: dropout stays on at "
         "evaluation, the validation metrics are noisy (0.993 after 400 steps)"),
    _bug("dedup", "lr_1e-6", "hyperparameter", "lr_too_low",
         "optim.lr=1e-6 (for Adam at 0.003): loss 2.417 -> 2.413 in 400 steps", overrides=["optim.lr=1e-6"]),

    _bug("steplm", "causal_mask_transposed", "mask", "leakage batch_dependence",
         "torch.triu for torch.tril: each position reads itself and every later token (its own target) but no "
         "earlier one; teacher-forced accuracy 0.91 after 400 steps (the last position has no future to copy), a "
         "model that cannot continue anything", root="leakage"),
    _bug("steplm", "mask_multiplied", "layer", "nonfinite unstable_softmax division_by_zero",
         "the additive 0/-inf mask multiplied into the scores instead of added: allowed scores become 0, masked "
         "ones +-inf (0 x -inf NaN too), the softmax is NaN at the first forward"),
    _bug("steplm", "pad_mask_missing", "mask", "batch_dependence",
         "the key padding mask left out of a LEFT-padded batch (only causal | itself): each real position also "
         "reads the padding before it, so an output depends on the batch's longest; trains as the clean model "
         "(1.0 after 200 steps): silently batch-dependent"),
    _bug("steplm", "head_init_x30", "init", "bad_init_loss exploding_gradients",
         "the output layer's weight scaled 30x after init (\"sharper\" logits): first loss 33.9 (chance log 21 = "
         "3.04); Adam recovers (1.0 after 200 steps)", root="bad_init_loss"),
    _bug("steplm", "targets_not_shifted", "loss", "leakage loss_mismatch",
         "the targets sliced like the inputs (ids[:-1]) instead of shifted (ids[1:]): each position is trained to "
         "output the token it reads; accuracy 1.0 after 200 steps, a model that predicts nothing",
         root="leakage loss_mismatch"),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
