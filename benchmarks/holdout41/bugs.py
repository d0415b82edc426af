"""The forty-first held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source, the policy or the tests: new models
on new synthetic data and new variations of the same kinds of mistakes. `named`/`root` use the public codes
(VOCABULARY); a code that describes a real consequence of the bug counts as named. Decided and committed before the
suite was first run on a bug. Clean models in a plain PyTorch loop (the family's Adam LR, batch 32, seed 0, the full
training set): rentals validation R² 0.830 / 0.914 / 0.939 / 0.941 after 200 / 400 / 800 / 1600 steps (best
possible ~0.957); arrows validation accuracy 1.0 from step 100; evenodd validation token accuracy 0.952 / 0.997 / 1.0
after 100 / 200 / 800 steps; rotword 0.710 / 0.931 / 0.975 / 0.999 after 100 / 200 / 400 / 800 steps. Bug
consequences measured in the same loop before the commit are noted in `what`.
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("rentals", "arrows", "evenodd", "rotword")

BUGS: tuple[Bug, ...] = (
    _bug("rentals", "target_raw_counts", "data", "input_scale",
         "mu_y, sd_y = 0, 1: the target left in rentals per hour (mean ~130, std ~120) while the inputs are "
         "standardised; first loss 6673; validation R² 0.31 / 0.53 / 0.88 after 200 / 800 / 1600 steps"),
    _bug("rentals", "registered_column_kept", "data", "leakage",
         "the `registered` column (subscribers' rentals, 0.8 x the target plus small noise, known only after the hour) "
         "kept among the inputs: validation R² 0.991 from step 200, above the noise's ceiling ~0.957 (val loss below "
         "best_loss)"),
    _bug("rentals", "pred_not_squeezed", "loss", "batch_dependence loss_floor loss_mismatch",
         "F.mse_loss(model(x), y) with (B, 1) predictions against (B,) targets: every prediction compared with every "
         "target of the batch, the model learns the batch mean; validation R² 0.01-0.03 through 1600 steps"),
    _bug("rentals", "all_zero_init", "init", "params_not_updating dead_units",
         "nn.init.zeros_ on every parameter (meant for the biases): every hidden ReLU outputs 0 with slope 0, only the "
         "output bias trains; validation R² 0.0 through 1600 steps"),
    _bug("rentals", "lr_1", "hyperparameter", "lr_too_high nonfinite dead_units exploding_gradients",
         "optim.lr=1 (for Adam at 0.003); plain loop: validation R² -1.7 / -0.29 / -0.27 after 200 / 800 / 1600 steps",
         root="lr_too_high", overrides=["optim.lr=1"]),

    _bug("arrows", "keep_mask_images_only", "data", "labels_not_learnable",
         "x = x[keep] after rejecting the arrows that leave the canvas, y = y[keep] forgotten: from the first rejected "
         "candidate on, each image carries another candidate's label; validation accuracy 0.18 / 0.50 / 0.40 after "
         "100 / 200 / 800 steps (training 0.25)"),
    _bug("arrows", "ignore_index_class0", "loss", "loss_mismatch",
         "F.cross_entropy(..., ignore_index=0) (a padding-id habit from sequence code): class 0 (`none`, a third of "
         "the images) never reaches the loss; validation accuracy 0.653 from step 100"),
    _bug("arrows", "bn_gamma_zero", "init", "params_not_updating dead_units",
         "nn.init.zeros_(bn.weight) on every BatchNorm (the zero-gamma trick meant for a residual branch's last BN): "
         "every activation is ReLU(0) = 0, no gradient reaches any convolution or BN; validation accuracy 0.347 (the "
         "majority class)"),
    _bug("arrows", "contrast_norm_no_eps", "layer", "division_by_zero nonfinite",
         "x = (x - mean) / x.std(...) without + eps: a blank (`none`) image has std exactly 0, so 0 / 0 = NaN; the "
         "first loss is NaN"),
    _bug("arrows", "norms_in_plain_list", "structure", "params_not_updating batch_dependence",
         "self.norms = [nn.BatchNorm2d(c) ...] (a plain list, not nn.ModuleList): the BN gains and biases are not "
         "parameters, and model.eval() does not reach the BNs, which normalise with the batch's statistics at "
         "evaluation; validation accuracy 1.0 on the 600 images as one batch, 0.365 on images one at a time"),

    _bug("evenodd", "pad_id_assumed_zero", "mask", "batch_dependence",
         "pad = src == 0 where PAD is 10 (id 0 is the letter a): the attention never reads an a and reads the padding, "
         "so a word's output depends on its batch's padding; validation token accuracy 0.79 / 0.885 / 0.988 after 100 "
         "/ 200 / 800 steps (clean 0.95 / 0.997 / 1.0)"),
    _bug("evenodd", "encoder_not_batch_first", "structure", "batch_dependence",
         "nn.LSTM(E, H) without batch_first=True on (B, S, E) inputs: the encoder runs along the batch, each word's "
         "encoding made from the words before it in the batch; validation token accuracy 0.76 / 0.90 / 0.89 after "
         "100 / 400 / 800 steps"),
    _bug("evenodd", "normal_init_no_std", "init", "bad_init_loss saturated_units exploding_gradients vanishing_gradients",
         "nn.init.normal_(p) on every weight (std=0.02 forgotten: 20x the LSTMs' and 11-20x the Linears' default): "
         "the LSTM gates saturate; first loss 9.9 (chance 2.56); validation token accuracy 0.12 / 0.21 / 0.27 after "
         "100 / 400 / 800 steps", root="bad_init_loss saturated_units"),
    _bug("evenodd", "double_shift", "loss", "loss_mismatch",
         "cross_entropy(logits[:, :-1], tgt[:, 1:]) on targets already shifted by the batch (an LM's shift done "
         "twice): each position is taught the token after its own; validation token accuracy (measured aligned) 0.26 "
         "/ 0.22 after 100 / 800 steps"),
    _bug("evenodd", "sgd_at_adam_lr", "hyperparameter", "lr_too_low",
         "optim.name=sgd with the LR tuned for Adam (0.003); plain loop: validation token accuracy 0.10 / 0.19 / 0.17 "
         "after 100 / 400 / 800 steps", overrides=["optim.name=sgd"]),

    _bug("rotword", "src_truncated", "data", "labels_not_learnable",
         "s = s[:6] (a tokenizer max_length from another task) while words have up to 8 letters: the targets of "
         "7- and 8-letter words hold letters the source no longer has; validation token accuracy 0.84 / 0.90 / 0.92 "
         "after 200 / 400 / 800 steps (clean 0.93 / 0.975 / 0.999)"),
    _bug("rotword", "enc_mask_multiplied", "mask", "batch_dependence",
         "scores * ~pad (a 0/1 mask multiplied in) instead of masked_fill(pad, -inf) in the encoder: PAD keys keep a "
         "score of 0 and a share of every softmax, so each word's encoding depends on its batch's padding; "
         "validation token accuracy 0.993 / 0.993 after 400 / 800 steps (clean 0.975 / 0.999)"),
    _bug("rotword", "dec_mask_after_softmax", "mask", "leakage batch_dependence",
         "softmax(scores).masked_fill(blocked, 0) instead of masking before the softmax in the decoder's "
         "self-attention: the future and PAD keys still share every denominator, so a position's output depends on "
         "the tokens after it; learns faster than clean by reading it: 0.83 / 0.975 after 100 / 200 steps (clean 0.71 "
         "/ 0.93)"),
    _bug("rotword", "pe_batch_index", "layer", "batch_dependence",
         "x + self.pe[:x.size(0)] (the tutorial's sequence-first line) on batch-first x with pe (max_len, 1, D): "
         "each word gets the position vector of its index in the batch at every place, no positions at all; "
         "validation token accuracy 0.42 / 0.44 after 200 / 800 steps"),
    _bug("rotword", "normal_init_everything", "init", "vanishing_gradients params_not_updating",
         "nn.init.normal_(p, std=0.02) on every parameter (GPT-2's init, applied to the LayerNorm gains and biases "
         "too): each LayerNorm's output is ~0.02 of its size, the gradients through them vanish (the attention "
         "projections get 1e-14..1e-11), and the token embeddings (std 0.02) drown under the fixed positions; "
         "validation token accuracy 0.20 / 0.25 after 100 / 800 steps"),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
