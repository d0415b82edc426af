"""The forty-second held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source, the policy or the tests: new models
on new synthetic data and new variations of the same kinds of mistakes. `named`/`root` use the public codes
(VOCABULARY); a code that describes a real consequence of the bug counts as named. Decided and committed before the
suite was first run on a bug. Clean models in a plain PyTorch loop (the family's Adam LR, batch 32, seed 0, the full
training set): lenses validation R² 0.965 / 0.978 / 0.984 after 200 / 400 / 800 steps; pebbles validation pixel
accuracy 0.968 / 0.983 / 0.983 after 100 / 200 / 400 steps; closers validation token accuracy 0.987 / 0.993 / 1.0 after
200 / 400 / 800 steps; pickpos validation accuracy 0.35 / 1.0 / 1.0 after 400 / 800 / 1200 steps (a plateau, then the
rule). Bug consequences measured in the same loop before the commit are noted in `what`.
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("lenses", "pebbles", "closers", "pickpos")

BUGS: tuple[Bug, ...] = (
    _bug("lenses", "targets_reshape_not_transpose", "data", "batch_dependence labels_not_learnable",
         "the (3, N) target array batched as y[:, idx].reshape(B, 3) instead of y[:, idx].T: each row of the batch's "
         "targets holds a scramble of three examples' quantities; validation R² 0.00 / 0.04 / 0.01 after 200 / 400 / "
         "800 steps (clean 0.965 / 0.978 / 0.984)"),
    _bug("lenses", "cross_entropy_on_regression", "loss", "loss_unbounded loss_mismatch",
         "F.cross_entropy(pred, y) copied from a classifier: the standardised real targets read as class "
         "probabilities, negative ones included, so the loss falls without bound (-1e6 after 800 steps, R² -4e11)"),
    _bug("lenses", "out_bias_raw_means", "init", "bad_init_loss exploding_gradients",
         "the output bias initialised to the targets' raw means (about 39 cm, 0.41, 2.3 cm) while the model is trained "
         "on standardised targets: first loss 495 (chance 1); validation R² -3.4 / 0.29 / 0.54 after 200 / 400 / 800 "
         "steps", root="bad_init_loss"),
    _bug("lenses", "dropout_always_on", "structure", "random_eval",
         "F.dropout(h, 0.1) after the first layer without training=self.training: dropout stays on in evaluation, the "
         "validation predictions are noisy; validation R² 0.938 / 0.954 / 0.974 after 200 / 400 / 800 steps (clean "
         "0.965 / 0.978 / 0.984)"),
    _bug("lenses", "lr_3", "hyperparameter", "lr_too_high nonfinite exploding_gradients dead_units",
         "optim.lr=3 (for Adam at 0.003); plain loop: validation R² -110 / -14 after 200 / 800 steps",
         root="lr_too_high", overrides=["optim.lr=3"]),

    _bug("pebbles", "rot_mask_opposite", "data", "labels_not_learnable",
         "the augmentation turns each mask by -k quarter turns where its image turns by k: for k = 1 or 3 (half the "
         "images) the mask is the image's mirror image of the right one; validation pixel accuracy 0.917 / 0.938 "
         "after 200 / 400 steps (clean 0.983 / 0.983)"),
    _bug("pebbles", "ignore_background", "loss", "loss_mismatch",
         "F.cross_entropy(..., ignore_index=0) (meant the 'unlabelled' id 255): background, 86% of the pixels, is "
         "never scored, so the model calls pebbles everywhere; validation pixel accuracy 0.31 / 0.39 after 200 / 400 steps "
         "while the optimised loss falls to 0.16"),
    _bug("pebbles", "bn_gamma_zero", "init", "params_not_updating dead_units vanishing_gradients",
         "nn.init.zeros_ on every BatchNorm's weight (the zero-gamma trick of residual blocks, in a network without "
         "skips): every ReLU's input is 0, nothing before the head gets a gradient; validation pixel accuracy 0.856 "
         "(all background) after 100 to 400 steps", root="params_not_updating dead_units"),
    _bug("pebbles", "bns_for_two_blocks", "structure", "params_not_updating",
         "the BatchNorm list built for an older two-block model, (16, 32): zip(self.convs, self.bns) silently stops "
         "after two blocks, the dilated third and fourth convolutions are never run and the receptive field shrinks "
         "from 15 to 7 pixels; validation pixel accuracy 0.951 / 0.963 / 0.971 after 200 / 400 / 800 steps (clean "
         "0.983 / 0.983 / 0.988)"),
    _bug("pebbles", "lr_1e-6", "hyperparameter", "lr_too_low",
         "optim.lr=1e-6 (for Adam at 0.003); plain loop: validation pixel accuracy 0.39 after 400 steps",
         overrides=["optim.lr=1e-6"]),

    _bug("closers", "vocab_per_split", "data", "labels_not_learnable",
         "the validation split encoded with a vocabulary built from its own text (characters in order of first "
         "appearance) instead of the training one: the bracket ids differ between the splits; training token accuracy "
         "1.0, validation 0.19 / 0.21 after 400 / 800 steps"),
    _bug("closers", "loss_on_tgt_in", "loss", "loss_mismatch leakage",
         "F.cross_entropy(logits, tgt_in) where tgt was meant: the decoder is taught to copy its own input (the "
         "targets shifted right); the optimised loss falls to 1e-4 while the task's token accuracy stays 0.17 and its "
         "loss climbs to 9"),
    _bug("closers", "update_gate_bias_8", "init", "vanishing_gradients saturated_units params_not_updating",
         "bias_hh[H:2H] (the GRU's update gate) filled with 8, an LSTM forget-bias habit: z = sigmoid(8) keeps the "
         "encoder's state at its zero start (1 - z = 3e-4), so the decoder starts blind and the attention reads near-"
         "zero states; validation token accuracy 0.62 / 0.80 / 0.92 after 200 / 400 / 800 steps (clean 0.987 / "
         "0.993 / 1.0)"),
    _bug("closers", "attn_softmax_dim1", "layer", "nonfinite leakage",
         "scores.softmax(1) on the (B, T, S) attention scores: normalised over the decoder's steps instead of the "
         "source positions (a step's weights read the later steps), and a PAD source column, -inf at every step, "
         "turns NaN: the loss is NaN from the first step"),
    _bug("closers", "lr_0.5", "hyperparameter", "lr_too_high nonfinite exploding_gradients saturated_units",
         "optim.lr=0.5 (for Adam at 0.001); plain loop: validation token accuracy 0.42 / 0.41 after 200 / 800 steps",
         root="lr_too_high", overrides=["optim.lr=0.5"]),

    _bug("pickpos", "pad_to_shortest", "data", "batch_dependence labels_not_learnable",
         "the batch function pads to min() of the lengths where max() was meant: every sequence is cut to the batch's "
         "shortest, often before the letter its index token asks for (fetched alone, an example is whole); validation "
         "accuracy 0.61 / 0.57 / 0.60 after 400 / 800 / 1200 steps (clean 0.35 / 1.0 / 1.0)"),
    _bug("pickpos", "key_mask_inverted", "mask", "nonfinite batch_dependence",
         "masked_fill(~pad, -inf): only the PAD keys stay visible, so a sequence without padding has every key masked "
         "and its softmax is NaN; the loss is NaN from the first step", root="nonfinite"),
    _bug("pickpos", "mask_hides_last_token", "mask", "labels_not_learnable",
         "the padding mask built as positions >= length - 1 (an index taken for a length): the last letter of every "
         "sequence is hidden from the attention and the pooling, so the ~14% of examples whose answer is the last "
         "letter cannot be answered; validation accuracy 0.85 / 0.86 after 800 / 1200 steps"),
    _bug("pickpos", "normal_mean_not_std", "init",
         "bad_init_loss saturated_units exploding_gradients vanishing_gradients",
         "nn.init.normal_(w, 0.02) on every Linear of both blocks, meant as the GPT std: 0.02 is the mean, the std "
         "stays 1 (14-20x PyTorch's default); validation accuracy 0.24 / 0.30 / 0.32 after 400 / 800 / 1200 steps",
         root="bad_init_loss saturated_units"),
    _bug("pickpos", "pos_table_frozen_zeros", "structure", "params_not_updating",
         "the position table made nn.Parameter(torch.zeros(...), requires_grad=False), a fixed sinusoidal table never "
         "filled in: the model has no positions and cannot find the p-th letter; validation accuracy 0.29 / 0.32 / "
         "0.31 after 400 / 800 / 1200 steps"),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
