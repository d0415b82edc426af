"""The seventeenth held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source: new models and new
variations of the same kinds of mistakes. `named`/`root` use the public codes (VOCABULARY); a code that
describes a real consequence of the bug counts as named. Written before the suite was first run.
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("wideclf", "rescnn", "lstmcopy", "tinygpt")

BUGS: tuple[Bug, ...] = (
    _bug("wideclf", "features_unscaled", "data", "input_scale",
         "the features fed on their raw measurement scales (offsets ~50, stds from 0.1 to 1000) instead of "
         "standardised; the LayerNorm after the first layer hides much of it, the plain check still trained"),
    _bug("wideclf", "softmax_before_cross_entropy", "loss", "loss_floor overfit_batch_size_1 labels_not_learnable",
         "cross_entropy applied to softmax probabilities instead of the logits (softmax twice): the loss cannot go "
         "below -log(e / (e + 5)) = 1.0 of the chance log 6 = 1.79, the gradients shrink; accuracy still rises",
         root="loss_floor overfit_batch_size_1"),
    _bug("wideclf", "layernorm_over_batch", "layer", "batch_dependence",
         "the written-out LayerNorm takes its mean and variance over dim 0 (the batch) instead of the features: "
         "each example's output depends on its batch-mates, in evaluation too"),
    _bug("wideclf", "dropout_always_on", "structure", "random_eval batch_dependence",
         "an extra F.dropout(h, 0.1) before the head, whose training=True default keeps it on in eval mode: "
         "the same batch gives other outputs at each evaluation", root="random_eval"),

    _bug("rescnn", "labels_shifted_by_one", "data", "labels_not_learnable",
         "the training labels rolled by one (torch.roll(y, 1)) against their images: each image carries the "
         "previous image's label (validation correct)"),
    _bug("rescnn", "head_std_5", "init", "bad_init_loss exploding_gradients",
         "the linear head initialised N(0, 5^2) (default ~U(+-0.18)): logits of std ~5+ at the start, a first "
         "loss ~30 (13x log 10)", root="bad_init_loss"),
    _bug("rescnn", "pool_reshape_mixes_batch", "structure", "batch_dependence labels_not_learnable",
         "the global pooling written h.transpose(0, 1).reshape(B, C, -1).mean(2): each example's pooled "
         "features are other examples' channels", root="batch_dependence"),
    _bug("rescnn", "lr_0.3", "hyperparameter", "lr_too_high nonfinite exploding_gradients",
         "optim.lr=0.3 (100x Adam's 0.003)", root="lr_too_high", overrides=["optim.lr=0.3"]),

    _bug("lstmcopy", "loss_target_is_decoder_input", "loss", "loss_mismatch",
         "the loss's target is the decoder input tgt_in (BOS + the target shifted right) instead of tgt: the "
         "decoder learns to echo its current input, the loss falls to ~0 while the real targets' accuracy "
         "stays near chance"),
    _bug("lstmcopy", "encoder_state_detached", "structure", "params_not_updating",
         "the encoder's final (h, c) detached before they start the decoder: the source embedding and the "
         "encoder get no gradient"),
    _bug("lstmcopy", "encoder_hh_std_2", "init",
         "bad_init_loss saturated_units vanishing_gradients exploding_gradients",
         "the encoder LSTM's hidden-to-hidden weights initialised N(0, 2^2) (default U(+-0.088), 1/sqrt(3 x 128) "
         "= 0.051 std): gates and cells saturate, the plain check reached val acc 0.46 against 0.77 clean",
         root="bad_init_loss saturated_units"),
    _bug("lstmcopy", "lr_3e-5", "hyperparameter", "lr_too_low", "optim.lr=3e-5 (100x below Adam's 0.003)",
         overrides=["optim.lr=3e-5"]),

    _bug("tinygpt", "additive_mask_sign", "mask", "leakage batch_dependence",
         "the mask added as + 1e4 x forbidden instead of -inf (or - 1e4): every query attends to the future "
         "positions (and the padding) above all", root="leakage"),
    _bug("tinygpt", "qk_zero_init", "init", "params_not_updating",
         "the fused projection's query and key rows (weights and biases) zeroed ('start from uniform "
         "attention'): q = k = 0, each blocks the other's gradient, attention stays uniform forever"),
    _bug("tinygpt", "inputs_not_shifted", "data", "leakage",
         "the LM's inputs cut right[:, 1:] like the targets instead of right[:, :-1]: each position reads the "
         "token it must predict; validation loss ~0.01 far below best_loss ~0.7"),
    _bug("tinygpt", "qkv_view_time_first", "structure", "batch_dependence",
         "the fused q/k/v output (B, T, 3D) viewed as (T, B, 3, H, dh) and permuted back: positions and "
         "examples mixed, each sequence attends over other examples' tokens"),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
