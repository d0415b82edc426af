"""The tenth held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source: new models and new
variations of the same kinds of mistakes. `named`/`root` use the public codes (VOCABULARY); a code that
describes a real consequence of the bug counts as named. Written before the suite was first run.
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("clsformer", "bahdanau", "resnet", "tabular")

BUGS: tuple[Bug, ...] = (
    _bug("clsformer", "mask_wrong_axis", "mask", "nonfinite batch_dependence",
         "the key padding mask broadcast over the queries: a padded position's row is all -inf, its softmax NaN, "
         "and the NaN reaches [CLS] through the keys left unmasked (only in batches with padding)"),
    _bug("clsformer", "cls_detached", "structure", "params_not_updating",
         "the learned [CLS] vector .detach()ed in forward: it never trains (the model still learns)"),
    _bug("clsformer", "labels_of_val_seed", "data", "labels_not_learnable loss_floor",
         "the training labels drawn from the validation generator's sequences: each sequence gets another's label",
         root="labels_not_learnable"),
    _bug("clsformer", "causal_mask_copied", "mask", "params_not_updating labels_not_learnable",
         "a causal mask copied from a decoder into the encoder: [CLS], first, attends to itself only, so the output "
         "ignores the tokens (their embeddings get no gradient)", root="params_not_updating"),

    _bug("bahdanau", "tgt_in_not_shifted", "data", "leakage",
         "the decoder input is the target itself, not shifted right: teacher-forced training copies the answer, "
         "greedy decoding fails"),
    _bug("bahdanau", "attention_over_batch", "layer", "batch_dependence",
         "the attention softmax over dim 0 (the batch) instead of the source positions"),
    _bug("bahdanau", "encoder_detached", "structure", "params_not_updating labels_not_learnable",
         "the encoder's states and final hidden .detach()ed: the encoder never trains", root="params_not_updating"),
    _bug("bahdanau", "bs1_lr_0.3", "hyperparameter", "lr_too_high nonfinite exploding_gradients",
         "optim.batch_size=1 optim.lr=0.3 (for 32 and 0.003)", root="lr_too_high",
         overrides=["optim.batch_size=1", "optim.lr=0.3"]),

    _bug("resnet", "bn_without_running_stats", "structure", "batch_dependence",
         "the first BatchNorm of each residual block built with track_running_stats=False: batch statistics in eval"),
    _bug("resnet", "labels_second_permutation", "data", "labels_not_learnable loss_floor",
         "the labels reordered by a second draw of the split permutation, the images by the first",
         root="labels_not_learnable"),
    _bug("resnet", "classifier_made_per_call", "structure", "params_not_updating batch_dependence labels_not_learnable",
         "the linear classifier created inside forward (nn.Linear(h.shape[1], 10)(h)): new random weights every call, "
         "never trained", root="params_not_updating"),
    _bug("resnet", "lr_5", "hyperparameter", "lr_too_high nonfinite exploding_gradients",
         "optim.lr=5 (for 0.003)", root="lr_too_high", overrides=["optim.lr=5"]),

    _bug("tabular", "income_in_dollars", "data", "input_scale bad_init_loss exploding_gradients",
         "the income column left in dollars (~50,000) while the other numerics are standardised",
         root="input_scale bad_init_loss"),
    _bug("tabular", "restandardised_per_batch", "layer", "batch_dependence division_by_zero nonfinite",
         "the numerics standardised again in forward over the batch (std of one row: 0/0)",
         root="batch_dependence division_by_zero"),
    _bug("tabular", "sigmoid_before_bce", "loss",
         "loss_floor bad_init_loss overfit_batch_size_1 saturated_units labels_not_learnable",
         "an nn.Sigmoid ending the MLP, its probability fed to BCEWithLogitsLoss (the loss bounded away from 0, the "
         "logit > 0 accuracy always 'yes')", root="loss_floor bad_init_loss overfit_batch_size_1"),
    _bug("tabular", "normal_init_std_1", "init", "bad_init_loss exploding_gradients",
         "every Linear weight re-initialised with nn.init.normal_ (std 1, not ~1/sqrt(fan_in)): logits in the "
         "hundreds at init", root="bad_init_loss"),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
