"""The thirty-fourth held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source, the policy or the tests: new models
and new variations of the same kinds of mistakes. `named`/`root` use the public codes (VOCABULARY); a code that
describes a real consequence of the bug counts as named. Written and committed before the suite was first run on a
bug; the consequences in `what` were measured in plain PyTorch (the family's optimiser and LR: Adam at 0.003 for
topics, waves and altcaps, at 0.001 for majority; batch 32, seed 0, on the full training set) against the clean
model (topics validation accuracy 0.991 at 100 steps, 0.987 at 400, 0.984 at 1000; waves 0.905 / 0.973 / 0.993;
altcaps token accuracy 0.801 / 0.9985 / 0.9994, exact 0.99 at 400; majority 0.972 / 0.996 / 1.0). "Alone vs batch":
the largest and mean absolute difference of the outputs of 16 training examples run alone and inside one batch (eval
mode, fresh weights; the clean models: 0.0).
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("topics", "waves", "altcaps", "majority")

BUGS: tuple[Bug, ...] = (
    _bug("topics", "train_labels_rolled", "data", "labels_not_learnable",
         "np.roll(y_train, 1): each training document labelled with the previous one's topic (validation intact); "
         "training accuracy 0.294 / 0.478 / 0.796 after 100 / 400 / 1000 steps (memorising), validation 0.279 / "
         "0.217 / 0.224 (chance 0.2)"),
    _bug("topics", "raw_counts", "data", "input_scale bad_init_loss",
         "the raw word counts of 300..1500-word documents as the features (means up to ~200) instead of standardised "
         "log counts per 100 words: first loss 2.32 (clean 1.62); validation accuracy 0.976 / 0.984 / 0.987 after "
         "100 / 400 / 1000 steps: a mild effect", root="input_scale"),
    _bug("topics", "nll_on_probabilities", "loss", "loss_mismatch overfit_batch_size_1 loss_floor",
         "F.nll_loss(logits.softmax(-1), y): minus the target's probability; first loss -0.199, -1.0 after 400 "
         "steps; validation accuracy 0.988 / 0.992 after 100 / 400 steps: the easy data trains anyway",
         root="loss_mismatch"),
    _bug("topics", "hidden_zero_init", "init", "params_not_updating dead_units",
         "nn.init.zeros_ on fc2's weight and bias before a ReLU: its outputs are 0, the ReLU's slope at 0 is 0, so fc1, "
         "fc2 and out.weight get no gradient (only out.bias trains); loss 1.606 -> 1.602 in 1000 steps, validation "
         "accuracy 0.228"),
    _bug("topics", "lr_30", "hyperparameter", "lr_too_high nonfinite exploding_gradients dead_units",
         "optim.lr=30 (for Adam at 0.003): validation accuracy 0.196 / 0.195 / 0.208 after 100 / 400 / 1000 steps, "
         "validation loss ~1e5", root="lr_too_high", overrides=["optim.lr=30"]),

    _bug("waves", "std_without_eps", "layer", "division_by_zero nonfinite",
         "the per-trace standardisation (x - mean) / x.std() without eps: a flat trace (a stuck sensor, one sixth of "
         "the data) is 0 / 0; the loss is NaN at the first forward and stays NaN"),
    _bug("waves", "bn_forced_train", "structure", "batch_dependence",
         "self.bn2.train()(h) in forward: the second BatchNorm switched back to training mode at every call, so it "
         "normalises with the batch's statistics in eval() too; trains (validation accuracy 0.970 / 0.997 after 100 / "
         "400 steps) but alone vs batch: up to 0.097 (mean 0.046) at init"),
    _bug("waves", "labels_scaled_to_unit", "data", "labels_not_learnable trivial_labels",
         "(y / 6).long(): the labels scaled to [0, 1) like a feature and cast back, every label 0 in both splits; "
         "accuracy 1.0 after 100 steps"),
    _bug("waves", "val_time_reversed", "data", "labels_not_learnable",
         "x_val.flip(-1): the validation traces stored newest first (a split built differently: rising and falling "
         "sawtooths swap, the symmetric shapes do not); training accuracy 0.901 / 0.986, validation 0.598 / 0.673 "
         "after 100 / 400 steps (validation loss 1.57 / 2.53)"),
    _bug("waves", "lr_3e-7", "hyperparameter", "lr_too_low",
         "optim.lr=3e-7 (for Adam at 0.003): loss 1.845 -> 1.873 in 400 steps, validation accuracy 0.137",
         overrides=["optim.lr=3e-7"]),

    _bug("altcaps", "state_at_padded_end", "mask", "batch_dependence",
         "the encoder LSTM run on the padded batch without packing: the final (h, c) that starts the decoder is read "
         "after the padding, so it depends on how much padding the batch adds; trains (token accuracy 0.9974 after 400 "
         "steps, exact 0.982) but alone vs batch: up to 0.051 (mean 0.034) at init"),
    _bug("altcaps", "loss_targets_ahead", "loss", "loss_mismatch",
         "cross_entropy(logits[:, :-1], tgt[:, 1:]): the output at t scored on the target of t + 1 (learnable from the "
         "source through the attention); the optimised loss 3.0 -> 0.022 in 400 steps while the task's token loss "
         "rises 2.96 -> 8.18 and token accuracy falls 0.23 -> 0.14"),
    _bug("altcaps", "src_emb_x100", "init", "bad_init_loss saturated_units vanishing_gradients",
         "src_emb.weight.mul_(100) (std 100 instead of 1): the encoder LSTM's gates saturated; first loss 3.01 "
         "(normal), token accuracy 0.50 / 0.85 after 100 / 400 steps, exact 0.31 (clean 0.80 / 0.9985, 0.99)",
         root="bad_init_loss saturated_units"),
    _bug("altcaps", "attn_softmax_over_time", "layer", "nonfinite leakage batch_dependence",
         "scores.softmax(1) instead of softmax(-1): the attention normalised over the decoder's positions, so each "
         "output reads scores of later positions (whose inputs are the answers), and a PAD key's column is all -inf "
         "(NaN): the loss is NaN at the first forward on any batch with padding", root="nonfinite leakage"),
    _bug("altcaps", "src_noise_in_eval", "structure", "random_eval",
         "src_emb(src) + 0.3 * randn_like(...) without checking self.training: noise at evaluation too; token "
         "accuracy 0.9951 after 400 steps, exact 0.966 (clean 0.9985, 0.99)"),

    _bug("majority", "mask_on_queries", "mask", "nonfinite batch_dependence",
         "masked_fill(~real[:, None, :, None], -inf): the padding mask on the query rows instead of the key columns; "
         "a padding query's row is all -inf (NaN), and the next block's real queries attend to those NaN keys: the "
         "loss is NaN at the first forward", root="nonfinite"),
    _bug("majority", "pad_mask_off_by_one", "mask", "batch_dependence",
         "F.pad(tok[:, 1:] != PAD, (0, 1), value=True): CLS's True appended at the end instead of the front, the key "
         "mask shifted by one (the last letter hidden, the first PAD visible); validation accuracy 0.892 / 0.892 / "
         "0.908 after 100 / 400 / 1000 steps; alone vs batch: up to 0.042 (mean 0.023) at init"),
    _bug("majority", "label_smoothing_09", "loss", "loss_floor overfit_batch_size_1",
         "F.cross_entropy(..., label_smoothing=0.9) instead of 0.1: the target puts 0.25 on the class and 0.15 on "
         "each other, a floor of 1.77 (chance 1.79); optimised loss 1.88 -> 1.77; validation accuracy 0.942 / 0.942 "
         "/ 0.992 after 100 / 400 / 1000 steps", root="loss_floor"),
    _bug("majority", "attn_branch_detached", "structure", "params_not_updating",
         "attn.detach() in the first block: its qkv and proj get no gradient (random attention kept); validation "
         "accuracy 0.990 / 0.964 / 1.0 after 100 / 400 / 1000 steps: the second block does the work"),
    _bug("majority", "temperature_zero_init", "init", "division_by_zero nonfinite unstable_softmax",
         "the learnt per-head attention temperature initialised with zeros instead of sqrt(16): scores / 0 = inf, "
         "inf - inf in the softmax; the loss is NaN at the first forward", root="division_by_zero nonfinite"),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
