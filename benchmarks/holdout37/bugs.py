"""The thirty-seventh held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source, the policy or the tests: new models
on new synthetic data and new variations of the same kinds of mistakes. `named`/`root` use the public codes
(VOCABULARY); a code that describes a real consequence of the bug counts as named. Decided and committed before the
suite was first run on a bug. Clean models in a plain PyTorch loop (the family's Adam LR, batch 32, seed 0, the full
training set): spectra validation per-label accuracy 0.995 / 0.998 after 100 / 400 steps; dice validation accuracy
0.458 / 0.895 / 0.993 after 200 / 400 / 500 steps; snakecase token accuracy 0.916 / 0.998 after 100 / 400 steps (exact
0.98 at 400); riffle (LR 0.002) token accuracy 0.971 after 600 steps. Bug consequences measured before the commit are
noted in `what` (the rest are expectations from the bug alone).
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("spectra", "dice", "snakecase", "riffle")

BUGS: tuple[Bug, ...] = (
    _bug("spectra", "sigmoid_twice", "loss", "loss_floor overfit_batch_size_1 loss_mismatch",
         "the model returns torch.sigmoid(logits) while the loss is binary_cross_entropy_with_logits (a sigmoid "
         "applied twice); the evaluation's `logit > 0` then calls every label present: plain loop 0.41 validation "
         "per-label accuracy (the positive rate) at 400 steps, optimised loss stuck at 0.54 (its floor; chance 0.69)"),
    _bug("spectra", "shift_augment_wide", "data", "labels_not_learnable",
         "the calibration-drift augmentation shifts spectra by up to 10 bins instead of 1: bands land on other "
         "compounds' bands (an augmentation that changes the labels); plain loop validation accuracy 0.818 at 400 "
         "steps (clean 0.998)"),
    _bug("spectra", "fc1_zeros", "init", "params_not_updating dead_units",
         "nn.init.zeros_(fc1.weight): the hidden units whose bias starts negative output 0 under the ReLU, get no "
         "gradient and stay zero for ever (about half of the first layer)", root="params_not_updating"),
    _bug("spectra", "dropout_in_eval", "structure", "random_eval",
         "F.dropout(h, 0.1) without training=self.training: dropout also at evaluation"),
    _bug("spectra", "lr_2e-6", "hyperparameter", "lr_too_low", "optim.lr=2e-6 (for Adam at 0.003)",
         overrides=["optim.lr=2e-6"]),

    _bug("dice", "marker_pixel", "data", "leakage",
         "the renderer writes the die's value (0..5) into the top-left pixel after the noise, a debugging stamp left "
         "in, in both splits (the target leaked into the inputs)"),
    _bug("dice", "instnorm_batch_dims", "layer", "batch_dependence",
         "the hand-written InstanceNorm2d takes its statistics over dims (0, 2, 3) (the batch too) instead of (2, 3): "
         "batch statistics at evaluation and in training"),
    _bug("dice", "head_std5", "init", "bad_init_loss exploding_gradients",
         "nn.init.normal_(head.weight, std=5): 50x PyTorch's ~0.1 for 32 inputs; first loss 12.3 (chance 1.79)",
         root="bad_init_loss"),
    _bug("dice", "features_detached", "structure", "params_not_updating",
         "h.mean((2, 3)).detach() before the head: the convolutions and norms never get a gradient"),
    _bug("dice", "lr_3", "hyperparameter", "lr_too_high nonfinite exploding_gradients",
         "optim.lr=3 (for Adam at 0.003)", root="lr_too_high", overrides=["optim.lr=3"]),

    _bug("snakecase", "sort_src_only", "data", "labels_not_learnable",
         "the batch function sorts src and src_len by length for packing but leaves tgt_in and tgt in the order asked "
         "for: each source meets another identifier's target (labels misaligned within the batch)"),
    _bug("snakecase", "loss_on_tgt_in", "loss", "loss_mismatch",
         "F.cross_entropy(logits, tgt_in) instead of tgt: the target not shifted, so the loss rewards copying the "
         "decoder's own input while the task's metrics (against tgt) stay low"),
    _bug("snakecase", "attn_mask_inverted", "layer", "nonfinite batch_dependence",
         "scores.masked_fill(src != PAD, -inf) instead of src == PAD: the real keys masked, PAD keys kept; the longest "
         "source of a batch has every key masked (a fully masked row: NaN at the first forward)", root="nonfinite"),
    _bug("snakecase", "bridge_std3", "init", "bad_init_loss saturated_units",
         "nn.init.normal_(bridge.weight, std=3): ~60x PyTorch's ~0.05 for 128 inputs; the decoder's initial state "
         "tanh(bridge(h)) sits at +-1"),
    _bug("snakecase", "encoder_no_grad", "structure", "params_not_updating",
         "the encoder called under torch.no_grad() (left from a debugging session): its embedding and GRU never "
         "train"),

    _bug("riffle", "causal_mask_transposed", "mask", "leakage nonfinite",
         "torch.tril(ones, diagonal=-1) instead of torch.triu(ones, diagonal=1): the causal mask transposed, so a "
         "position sees itself and every later position (the future) and not the past; PAD queries see no key "
         "(NaN in the evaluation at fresh weights)", root="leakage"),
    _bug("riffle", "memory_pad_unmasked", "mask", "batch_dependence",
         "memory_key_padding_mask=None: the decoder's cross-attention reads the source's PAD positions (their "
         "position embeddings through the encoder), so an output depends on the batch's width"),
    _bug("riffle", "log_softmax_time", "loss", "loss_floor overfit_batch_size_1 batch_dependence loss_mismatch",
         "F.log_softmax(logits, dim=1) over (B, T, V): normalised over the positions (padded ones included) instead "
         "of the vocabulary"),
    _bug("riffle", "val_second_half_first", "data", "labels_not_learnable",
         "the validation targets built with the halves swapped (second half first: a train/val mismatch of the "
         "targets)"),
    _bug("riffle", "lr_0.5", "hyperparameter", "lr_too_high nonfinite exploding_gradients",
         "optim.lr=0.5 (for Adam at 0.002)", root="lr_too_high", overrides=["optim.lr=0.5"]),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
