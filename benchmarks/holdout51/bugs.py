"""The fifty-first held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from README.md and docs/diagnostics.md alone (with orchestrator/task.py, the bug-suite harness and holdout49/50
for format), without reading the diagnostics' source, the policy or the tests: new models on new synthetic data and
mistakes a practitioner makes. `named`/`root` use the public codes (VOCABULARY); a code that describes a real
consequence of the bug counts as named. Decided and committed before the suite was first run on a bug (only clean runs
had gone through the CLI, to set the goals). Clean models in a plain PyTorch loop (calibrate.py: the family's optimiser
and LR, batch 32, seed 0, the full training set): gridload validation hit (within 0.2 std) 0.57 / 0.90 / 0.92 / 0.97
after 100 / 400 / 800 / 1600 steps (RMSprop 0.001); birdsongs validation accuracy 0.998 / 1.0 / 1.0 / 1.0 (SGD momentum
0.9 at 0.02); keyshift validation exact (greedy) 0.02 / 0.957 / 0.955 / 0.960 (Adam 0.003); recipes validation exact
0.895 / 1.0 / 1.0 / 1.0 (AdamW 0.002). Bug consequences measured in the same loop before the commit are noted in `what`
(steps 100 / 400 / 800 / 1600). Candidates measured and replaced because they did not hurt the plain loop: birdsongs'
softmax where log_softmax was meant before nll_loss (validation 1.0 by 400), keyshift's padded attention scores set to
0 instead of -inf (0.978 at 1600, above clean) and a forget-gate bias of -5 (0.917 at 1600, clean 0.960: too mild),
recipes' ingredient-dropout augmentation keeping the full recipe's tags (0.998 at 1600) and a focal-loss prior bias
-9.2 on the tag head (1.0 by 400). A mask hiding each word's last letter (lengths - 1 as a count) hurt (0.45 / 0.75 /
0.89 at 400 / 800 / 1600) but no public code describes it, and was replaced by `mask_of_first_word`.
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("gridload", "birdsongs", "keyshift", "recipes")

BUGS: tuple[Bug, ...] = (
    _bug("gridload", "targets_permuted_separately", "data", "labels_not_learnable",
         "load = load[rng.permutation(n)]: the shuffle before the split draws a second permutation for the targets, "
         "so every hour gets another hour's load, in both splits; validation hit 0.13 / 0.13 / 0.13 / 0.13 (clean "
         "0.57 / 0.90 / 0.92 / 0.97), training hit 0.19 at 1600"),
    _bug("gridload", "l1_unsqueezed", "loss", "batch_dependence",
         "F.l1_loss(model(x), load) with (B, 1) predictions against (B,) targets (.squeeze(-1) forgotten in the loss "
         "only): broadcast to (B, B), every prediction is pulled to the batch's median; PyTorch warns once; validation "
         "hit 0.16 / 0.15 / 0.16 / 0.16"),
    _bug("gridload", "uniform_pm1_init", "init", "bad_init_loss exploding_gradients",
         "nn.init.uniform_(w, -1, 1) on the three weight matrices (std 0.58; PyTorch's default 0.05-0.2 here): first "
         "loss 32 (clean 0.82); validation hit 0.03 / 0.04 / 0.03 / 0.07", root="bad_init_loss"),
    _bug("gridload", "relu_result_discarded", "structure", "loss_floor",
         "h.relu() whose result is dropped (h = h.relu() / relu_() was meant): the MLP is linear; validation hit 0.37 / "
         "0.39 / 0.39 / 0.39, training L1 stuck at 0.37-0.39"),
    _bug("gridload", "rmsprop_weight_decay_1", "hyperparameter", "loss_floor overfit_batch_size_1 vanishing_gradients",
         "RMSprop weight_decay=1.0 (1e-4 meant): the L2 pull dominates the bounded L1 gradient, the net stays at the "
         "mean; validation hit 0.15 / 0.15 / 0.15 / 0.15, loss 0.80 (the prediction-at-0 loss)",
         root="loss_floor overfit_batch_size_1", overrides=["+optim.args.weight_decay=1.0"]),

    _bug("birdsongs", "power_not_db", "data", "input_scale",
         "x = 10 ** (db / 10): the linear power fed as is (log compression and standardisation forgotten), values up to "
         "~10^3.6: first loss 34, validation accuracy 0.19 / 0.20 / 0.22 / 0.16 (chance 0.2; clean 1.0 by 100 steps)"),
    _bug("birdsongs", "nll_indexed_by_rows", "loss", "batch_dependence",
         "-logp[:, species].mean(), a hand-written NLL where logp[arange(B), species] was meant: the (B, B) block "
         "scores every call against every batch-mate's species, so the batch's class frequencies are the optimum; "
         "validation accuracy 0.19 / 0.20 / 0.22 / 0.17, loss 1.60 (chance 1.61)"),
    _bug("birdsongs", "conv_init_tiny", "init", "vanishing_gradients",
         "nn.init.normal_(w, 0, 0.001) on the three convolutions (\"small random weights\"): the features and their "
         "gradients shrink ~100x per layer; validation accuracy 0.19 / 0.20 / 0.22 / 0.16, loss at chance"),
    _bug("birdsongs", "last_frame_readout", "structure", "loss_floor",
         "h[:, :, -1], the last frame read out (an RNN habit) where the max over time was meant: the readout sees only "
         "the last ~8 frames, most calls lie elsewhere; training accuracy climbs by memorising noise (0.37 / 0.55 / 0.78 "
         "at 400 / 800 / 1600) while validation accuracy is 0.21 / 0.26 / 0.27 / 0.27"),
    _bug("birdsongs", "momentum_0.999", "hyperparameter", "lr_too_high exploding_gradients nonfinite",
         "SGD momentum=0.999 (0.9 meant): steps ~100x the gradient's, the loss grows to 15 by 100 steps and is NaN by "
         "400; validation accuracy 0.71 / 0.16 (NaN) after", root="lr_too_high",
         overrides=["optim.args.momentum=0.999"]),

    _bug("keyshift", "sources_sorted_alone", "data", "labels_not_learnable",
         "sorted(words, key=len, reverse=True) for the sources of a batch (for packing) while the targets stay in batch "
         "order: each source is taught another word's target; validation exact 0.0 / 0.0 / 0.0 / 0.0, token accuracy "
         "0.15-0.18 (clean exact 0.02 / 0.957 / 0.955 / 0.960)"),
    _bug("keyshift", "targets_time_major", "loss", "batch_dependence labels_not_learnable",
         "tgt_out.t().reshape(-1) (left from a seq-first version) against logits.reshape(-1, V): targets flattened "
         "time-major against batch-first outputs; validation exact 0.0 throughout, token accuracy 0.156",
         root="batch_dependence"),
    _bug("keyshift", "lstm_normal_std1", "init", "bad_init_loss saturated_units exploding_gradients vanishing_gradients",
         "nn.init.normal_(w, 0, 1) on the LSTMs' input and recurrent weight matrices (default std 0.07): gates at their "
         "rails from the start; validation exact 0.0 / 0.012 / 0.012 / 0.038, token accuracy 0.46 at 1600",
         root="bad_init_loss saturated_units"),
    _bug("keyshift", "mask_of_first_word", "mask", "batch_dependence",
         "(src[0] == PAD) as the key padding mask (a time step in the old (S, B) layout; here the first word): every "
         "word is masked with the first word's padding, hiding real letters or showing padding; validation exact "
         "0.002 / 0.38 / 0.54 / 0.65"),
    _bug("keyshift", "adam_lr_0.05", "hyperparameter", "lr_too_high exploding_gradients nonfinite",
         "optim.lr=0.05 (Adam; 5e-3 mistyped): validation exact 0.48 / 0.61 / 0.71 / 0.71, token accuracy stuck at "
         "0.90", root="lr_too_high", overrides=["optim.lr=0.05"]),

    _bug("recipes", "recipes_sorted_alone", "data", "labels_not_learnable",
         "the recipes sorted by length after the tag table was computed, the tags left in draw order: each recipe gets "
         "another's tags, in both splits; validation exact 0.05 / 0.09 / 0.08 / 0.06, tag accuracy 0.63 (clean exact "
         "0.895 / 1.0 / 1.0 / 1.0) while training exact climbs to 0.17 by memorising"),
    _bug("recipes", "sigmoid_then_bce_logits", "loss", "loss_mismatch loss_floor vanishing_gradients",
         "binary_cross_entropy_with_logits(torch.sigmoid(logits), tags): the sigmoid applied twice, the loss floored "
         "at ~0.5 with vanishing gradients; validation exact 0.69 / 0.73 / 0.73 / 0.73 (tag accuracy 0.95)",
         root="loss_mismatch loss_floor"),
    _bug("recipes", "softmax_over_queries", "layer", "unstable_softmax nonfinite batch_dependence",
         "scores.softmax(-2) in the written-out attention (over the queries, -1 meant): a padded key's column is all "
         "-inf, so its softmax is NaN from the first forward of any padded batch; loss NaN at step 1, validation exact "
         "0.03"),
    _bug("recipes", "mask_on_query_axis", "mask", "unstable_softmax nonfinite batch_dependence",
         "scores.masked_fill(pad[:, None, :, None], -inf): the padding mask broadcast over the query axis ([:, None, "
         "None, :] meant): padded queries' rows are all -inf, NaN, and the NaN values reach every position in the next "
         "block; loss NaN at step 1, validation exact 0.03"),
    _bug("recipes", "adamw_betas_swapped", "hyperparameter", "lr_too_high exploding_gradients nonfinite",
         "AdamW betas=(0.999, 0.9) (the two swapped): a slow first moment over a fast second moment, steps blow up "
         "whenever the gradient shrinks; validation exact 0.67 / 0.80 / 0.81 / 0.14 (collapsing late; clean 0.895 / "
         "1.0 / 1.0 / 1.0)", root="lr_too_high exploding_gradients",
         overrides=["+optim.args.betas=[0.999,0.9]"]),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
