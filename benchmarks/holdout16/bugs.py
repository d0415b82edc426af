"""The sixteenth held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source: new models and new
variations of the same kinds of mistakes. `named`/`root` use the public codes (VOCABULARY); a code that
describes a real consequence of the bug counts as named. Written before the suite was first run.
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("tabmlp", "smallcnn", "gruseq", "maskedlm")

BUGS: tuple[Bug, ...] = (
    _bug("tabmlp", "assessed_from_price", "data", "leakage",
         "the 'assessed value' column computed from the sale price (price + noise 0.1) instead of from the "
         "location: the target is among the inputs, the validation loss falls far below the noise's floor "
         "(best_loss ~0.11)"),
    _bug("tabmlp", "squared_error_broadcast", "loss", "batch_dependence labels_not_learnable loss_mismatch",
         "the squared error written out on the (B, 1) predictions against the (B,) prices without a squeeze: "
         "(B, B) differences, every prediction compared with every target of the batch (no PyTorch warning: "
         "not mse_loss); the model can only learn the batch mean"),
    _bug("tabmlp", "region_embedding_std_50", "init", "bad_init_loss exploding_gradients lr_too_high nonfinite",
         "the region embedding initialised N(0, 50^2): four of the fourteen inputs of the MLP are ~50x the "
         "others, the first predictions are ~50x the targets' scale", root="bad_init_loss"),
    _bug("tabmlp", "embedding_rows_via_data", "structure", "params_not_updating",
         "the region's embedding rows read off `.weight.data[ids]`: no gradient reaches the region embedding, it "
         "stays at its random init"),
    _bug("tabmlp", "lr_30", "hyperparameter", "lr_too_high nonfinite exploding_gradients",
         "optim.lr=30 (for Adam at 0.003)", root="lr_too_high", overrides=["optim.lr=30"]),

    _bug("smallcnn", "labels_not_permuted", "data", "labels_not_learnable",
         "the training images taken through the split's random permutation, their labels taken in the original "
         "order: training labels unrelated to the images (validation correct)"),
    _bug("smallcnn", "groupnorm_stats_over_batch", "layer", "batch_dependence",
         "the written-out GroupNorm takes each group's mean and variance over dims (0, 2) of the (B, groups, -1) "
         "view instead of dim 2: statistics over the whole batch (a BatchNorm without running statistics), in "
         "evaluation too"),
    _bug("smallcnn", "stem_under_no_grad", "structure", "params_not_updating",
         "the stem block run under torch.no_grad() (copied from a frozen-stem fine-tune): its conv and norm get "
         "no gradient"),
    _bug("smallcnn", "groupnorm_gain_zero", "init", "params_not_updating dead_units vanishing_gradients",
         "every GroupNorm gain initialised to 0 (a residual branch's zero init): every norm outputs its bias 0, "
         "every ReLU is exactly 0 with zero gradient, only the head's bias can train",
         root="params_not_updating dead_units"),
    _bug("smallcnn", "bs1_lr_0.5", "hyperparameter", "lr_too_high nonfinite exploding_gradients",
         "optim.batch_size=1 optim.lr=0.5 (for 32 and Adam at 0.003)", root="lr_too_high",
         overrides=["optim.batch_size=1", "optim.lr=0.5"]),

    _bug("gruseq", "loss_mask_inverted", "mask",
         "loss_mismatch division_by_zero nonfinite labels_not_learnable",
         "the loss's mask written tgt == PAD instead of tgt != PAD: the loss trains the padding positions only "
         "(a batch without padding divides 0 by 0); the metrics over the real positions never move",
         root="loss_mismatch division_by_zero"),
    _bug("gruseq", "bidirectional_state_view", "structure", "batch_dependence",
         "the encoder's (2, B, 64) final states turned into the decoder's (1, B, 128) by .view instead of "
         "concatenating the two directions: each example's initial state is two examples' forward states"),
    _bug("gruseq", "decoder_input_sliced_like_target", "data", "leakage",
         "the decoder input cut as cat([BOS, tgt])[:, 1:] instead of [:, :-1]: it is the target itself, each "
         "position reads the token it must predict"),
    _bug("gruseq", "embedding_std_20", "init",
         "saturated_units vanishing_gradients exploding_gradients bad_init_loss",
         "the shared embedding initialised N(0, 20^2): the GRUs' gates and candidates saturate from the first "
         "step", root="saturated_units"),
    _bug("gruseq", "lr_1e-6", "hyperparameter", "lr_too_low", "optim.lr=1e-6 (for Adam at 0.003)",
         overrides=["optim.lr=1e-6"]),

    _bug("maskedlm", "additive_boolean_mask", "mask", "leakage batch_dependence",
         "the boolean mask added to the scores as 0/1 instead of filling the forbidden keys with -inf: every "
         "position sees the future (and the padding)"),
    _bug("maskedlm", "padding_mask_on_queries", "mask", "batch_dependence leakage",
         "the padding mask broadcast over the queries (real[:, None, :, None]) instead of the keys: real "
         "positions attend to the left padding, whose length depends on the batch (and tells the sequence's "
         "length, a piece of the future: the plain-PyTorch check reached a validation loss of 0.90 under the "
         "entropy rate 0.99)"),
    _bug("maskedlm", "layernorm_over_time", "layer", "leakage batch_dependence",
         "the written-out LayerNorm takes its mean and variance over the positions (dim 1) instead of the "
         "features: every position's normalisation reads the later positions (and the padding)"),
    _bug("maskedlm", "head_std_1", "init", "bad_init_loss",
         "the output layer initialised N(0, 1) (the embeddings' init): logits of std ~8 at the start, a first "
         "loss several times log 12"),
    _bug("maskedlm", "lr_0.5", "hyperparameter", "lr_too_high nonfinite exploding_gradients",
         "optim.lr=0.5 (for Adam at 0.001)", root="lr_too_high", overrides=["optim.lr=0.5"]),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
