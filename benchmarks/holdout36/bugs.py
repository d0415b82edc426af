"""The thirty-sixth held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source, the policy or the tests: new models
on new synthetic data and new variations of the same kinds of mistakes. `named`/`root` use the public codes
(VOCABULARY); a code that describes a real consequence of the bug counts as named. Decided and committed before the
suite was first run on a bug. The consequences in `what` were measured in a plain PyTorch loop (the family's
optimiser and LR: Adam at 0.002 for chords, tetromino and poker, 0.003 for octal; batch 32, seed 0, the full training
set) against the clean model: chords validation accuracy 0.791 / 0.966 after 100 / 400 steps; tetromino 0.877 /
0.998; octal token accuracy 0.497 / 0.988 (exact 0.94 at 400); poker 0.974 / 1.0.
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("chords", "tetromino", "octal", "poker")

BUGS: tuple[Bug, ...] = (
    _bug("chords", "chroma_in_decibels", "data", "input_scale",
         "the chroma features fed in dB as computed (-40..+1, feature means about -25) instead of standardised; first "
         "loss 6.2 (clean 1.86); validation accuracy 0.836 / 0.985 after 100 / 400 steps: no harm in this loop "
         "(clean 0.791 / 0.966), a normalisation mistake that Adam absorbs here"),
    _bug("chords", "sigmoid_nll", "loss", "log_of_zero loss_mismatch",
         "F.nll_loss(torch.log(torch.sigmoid(logits)), y): a per-class sigmoid where log_softmax was meant, so only "
         "the target's logit is pushed up and the classes never compete; the optimised loss falls to 0 within 100 "
         "steps while validation accuracy stays 0.18 (chance 0.17) and the cross-entropy of the logits is 27"),
    _bug("chords", "fc1_orthogonal_gain40", "init", "bad_init_loss exploding_gradients",
         "nn.init.orthogonal_(fc1.weight, gain=40): entries ~5 against PyTorch's ~0.17 for 12 inputs (30x); first "
         "loss 10.2 (chance 1.79); validation accuracy 0.913 / 0.923 after 100 / 400 steps (clean 0.791 / 0.966)",
         root="bad_init_loss"),
    _bug("chords", "residual_dropped", "structure", "vanishing_gradients",
         "h = block(h) instead of h = h + block(h): twelve plain Linear layers at PyTorch's default init, no "
         "normalisation; validation accuracy 0.379 / 0.609 after 100 / 400 steps"),
    _bug("chords", "lr_0.3", "hyperparameter", "lr_too_high nonfinite exploding_gradients",
         "optim.lr=0.3 (for Adam at 0.002)", root="lr_too_high", overrides=["optim.lr=0.3"]),

    _bug("tetromino", "flip_swaps_chirality", "data", "labels_not_learnable",
         "get_batch also mirrors a random half of the training images left-right, keeping the label, although a "
         "mirror image turns S into Z and J into L (an augmentation that changes the label); validation accuracy "
         "0.637 / 0.697 after 100 / 400 steps"),
    _bug("tetromino", "bn_eval_batch_stats", "layer", "batch_dependence",
         "the hand-written BatchNorm's eval branch computes the batch's mean and variance instead of reading the "
         "running statistics: batch statistics at evaluation; trains (validation accuracy 0.922 / 0.998 after "
         "100 / 400 steps, evaluated on whole splits)"),
    _bug("tetromino", "head_frozen", "structure", "params_not_updating",
         "self.head.requires_grad_(False): the classifier stays at its random init (a freeze meant for a backbone); "
         "trains through the convolutions (validation accuracy 0.862 / 0.998 after 100 / 400 steps)"),
    _bug("tetromino", "logits_over_100", "loss", "loss_floor overfit_batch_size_1 loss_mismatch",
         "F.cross_entropy(logits / 100, y): a temperature of 100 in the training loss, so the loss the optimiser sees "
         "stays near chance long after the argmax is right; validation accuracy 0.37 / 0.933 after 100 / 400 steps, "
         "optimised loss 1.86 / 0.71", root="loss_floor loss_mismatch"),
    _bug("tetromino", "lr_3e-7", "hyperparameter", "lr_too_low",
         "optim.lr=3e-7 (for Adam at 0.002)", overrides=["optim.lr=3e-7"]),

    _bug("octal", "train_bits_reversed", "data", "labels_not_learnable",
         "the training sources stored least significant bit first, the validation ones most significant bit first (a "
         "train/val mismatch of the inputs); training token accuracy 0.837 after 400 steps, validation 0.343 (exact "
         "0.066)"),
    _bug("octal", "pad_not_ignored", "loss", "batch_dependence",
         "F.cross_entropy(logits, tgt) without ignore_index=PAD: the padding after EOS is scored as a target (a loss "
         "that counts padded positions); trains (validation token accuracy 0.996 after 400 steps, exact 0.982)"),
    _bug("octal", "enc_normal_std1", "init", "bad_init_loss saturated_units vanishing_gradients exploding_gradients",
         "nn.init.normal_ on every encoder LSTM parameter: std 1 instead of PyTorch's ~0.072 for 64 hidden units "
         "(14x), the encoder's states at the rails; first loss 2.52 (normal); token accuracy 0.476 / 0.643 after "
         "100 / 400 steps", root="bad_init_loss saturated_units"),
    _bug("octal", "attn_fill_tiny", "layer", "batch_dependence",
         "scores.masked_fill(pad, -1e-9) instead of -inf (an exponent typo for -1e9): PAD keys keep attention weight, "
         "so an output depends on how much padding its batch adds; trains (token accuracy 0.989 after 400 steps)"),
    _bug("octal", "word_dropout_in_eval", "structure", "random_eval",
         "the decoder's word dropout (inputs replaced by UNK with probability 0.1) applied at evaluation too: p = 0.1 "
         "instead of 0.1 if self.training else 0; validation token accuracy 0.978 after 400 steps, exact 0.894 "
         "(clean 0.94)"),

    _bug("poker", "mask_for_left_padding", "mask", "batch_dependence",
         "the key mask written for left-padded batches (the last `length` positions real) while batches are "
         "right-padded: short hands hide CLS and their first cards and show PAD keys; validation accuracy 0.916 / "
         "0.938 after 100 / 400 steps (clean 0.974 / 1.0)"),
    _bug("poker", "ln_eps_outside_sqrt", "layer", "division_by_zero nonfinite",
         "(x - mu) / var.sqrt() + eps: the hand-written LayerNorm's eps added after the division, and the PAD rows "
         "(zero embeddings) give 0 / 0; the loss is NaN at the first forward and stays NaN"),
    _bug("poker", "final_norm_gain_zeroed", "init", "params_not_updating",
         "nn.init.zeros_(self.norm.gain) (meant for a bias) beside the zero-initialised classifier: the head's input "
         "is 0 and the gain's gradient is 0, so nothing but the head's bias ever trains; validation accuracy 0.24 / "
         "0.37 after 100 / 400 steps (the class prior)"),
    _bug("poker", "val_from_train_seed", "data", "leakage",
         "the validation generator re-seeded with the training seed 0: the validation hands are the first 500 "
         "training hands; validation metrics equal the training ones (0.962 / 0.994 after 100 / 400 steps)"),
    _bug("poker", "lr_3", "hyperparameter", "lr_too_high nonfinite exploding_gradients",
         "optim.lr=3 (for Adam at 0.002)", root="lr_too_high", overrides=["optim.lr=3"]),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
