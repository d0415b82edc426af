"""The forty-ninth held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from README.md and docs/diagnostics.md alone (with orchestrator/task.py, the bug-suite harness and holdout47/48
for format), without reading the diagnostics' source, the policy or the tests: new models on new synthetic data and
mistakes a practitioner makes. `named`/`root` use the public codes (VOCABULARY); a code that describes a real
consequence of the bug counts as named. Decided and committed before the suite was first run on a bug. Clean models in
a plain PyTorch loop (calibrate.py: the family's optimiser and LR, batch 32, seed 0, the full training set): alloys
validation label accuracy 0.824 / 0.925 / 0.932 / 0.950 (exact 0.37 / 0.67 / 0.69 / 0.77) after 100 / 400 / 800 /
1600 steps (AdamW 0.003); crosses validation accuracy 0.943 / 0.978 / 0.980 / 0.985 (SGD Nesterov 0.05, momentum 0.9);
deal validation token accuracy 0.656 / 0.987 / 1.000 / 1.000 (exact 0.17 / 0.93 / 0.998 / 0.997; Adam 0.003); ledger
validation balance accuracy 0.277 / 0.994 / 1.000 / 1.000 (AdamW 0.001). Bug consequences measured in the same loop
before the commit are noted in `what`. Candidates that did not hurt the plain loop were replaced before the commit
(crosses: cross-entropy on probabilities, 0.980 at 1600; ledger: layer norm over the positions, qkv zero-initialised,
positions not added, scores x sqrt(d), the residual dropped, the feed-forward's GELU left out, a layer norm divided by
the variance, the norm gains zeroed: each reached >= 0.996 by 1600 steps).
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("alloys", "crosses", "deal", "ledger")

BUGS: tuple[Bug, ...] = (
    _bug("alloys", "props_of_previous_row", "data", "labels_not_learnable",
         "np.roll(props, 1, axis=0): the label table joined one row off, each alloy gets the previous one's "
         "properties; validation label accuracy 0.555 / 0.568 / 0.544 / 0.530 after 100 / 400 / 800 / 1600 steps "
         "(clean 0.824 / 0.925 / 0.932 / 0.950) while the training accuracy climbs to 0.74 (memorising)"),
    _bug("alloys", "softmax_ce_multilabel", "loss", "loss_mismatch loss_floor overfit_batch_size_1",
         "F.cross_entropy(logits, props) (a softmax over the five properties) on multi-hot targets where "
         "binary_cross_entropy_with_logits was meant: first loss 3.7, the training loss stays ~2.2-2.3; validation "
         "label accuracy 0.766 / 0.830 / 0.868 / 0.887, exact 0.28 / 0.42 / 0.49 / 0.54 (clean 0.95, exact 0.77 at "
         "1600)", root="loss_mismatch loss_floor"),
    _bug("alloys", "uniform_no_range", "init", "bad_init_loss exploding_gradients",
         "nn.init.uniform_(w) on the three Linear layers: U(0, 1), the range (-a, a) forgotten, every weight positive "
         "(~10x-20x PyTorch's default scale): first loss 1900 (chance 0.69); validation label accuracy 0.507 / 0.637 / "
         "0.683 / 0.745 after 100 / 400 / 800 / 1600", root="bad_init_loss"),
    _bug("alloys", "relu_on_logits", "structure", "dead_units loss_floor overfit_batch_size_1",
         "the layer loop appends a ReLU after the output Linear too: logits >= 0, a property can never be predicted "
         "negative with confidence; validation label accuracy 0.694 / 0.751 / 0.756 / 0.758 (clean 0.824 / 0.925 / "
         "0.932 / 0.950), loss stuck at 0.53"),
    _bug("alloys", "adamw_lr_0.5", "hyperparameter", "lr_too_high exploding_gradients nonfinite",
         "optim.lr=0.5 (AdamW; 5e-3 mistyped): validation label accuracy 0.568 / 0.553 / 0.545 / 0.528, loss ~0.68 "
         "(chance 0.69) throughout", root="lr_too_high", overrides=["optim.lr=0.5"]),

    _bug("crosses", "transpose_augment", "data", "labels_not_learnable",
         "the random flip written as images.transpose(-1, -2) (a diagonal flip) where flip(-1) was meant, on the "
         "images only: half of the horizontal bars become vertical ones and back, their labels unchanged; validation "
         "accuracy 0.683 / 0.700 / 0.717 / 0.720 after 100 / 400 / 800 / 1600 (clean 0.943 / 0.978 / 0.980 / 0.985)"),
    _bug("crosses", "nll_on_raw_logits", "loss", "loss_unbounded loss_mismatch nonfinite",
         "F.nll_loss(logits, labels) on the raw logits (NLLLoss from a tutorial whose model ended in LogSoftmax): "
         "minus the target's logit, unbounded below; first loss -0.11, NaN within 100 steps, validation accuracy "
         "0.258 (chance) after", root="loss_unbounded loss_mismatch"),
    _bug("crosses", "conv_constant_init", "init", "symmetric_units",
         "nn.init.constant_(w, 0.05) on the three convolutions (a random init was meant): every channel of a layer is "
         "the same and gets the same gradient, the net works as one channel wide; validation accuracy 0.29 / 0.24 / "
         "0.29 / 0.31 after 100 / 400 / 800 / 1600"),
    _bug("crosses", "pool_softmax_over_batch", "layer", "batch_dependence",
         "the hand-written attention pooling's softmax over dim 0 (the batch) where -1 (the 49 positions) was meant: "
         "each image's pooling weights are shared out over its batch-mates; validation accuracy 0.39 / 0.35 / 0.28 / "
         "0.28 after 100 / 400 / 800 / 1600"),
    _bug("crosses", "exponential_decay_per_step", "hyperparameter", "lr_too_low",
         "ExponentialLR(gamma=0.95) meant per epoch, stepped every iteration: the LR is 0.05 x 0.006 after 100 steps, "
         "3e-7 x 0.05 after 300; validation accuracy 0.917 / 0.923 / 0.927 / 0.927 (clean 0.943 / 0.978 / 0.980 / "
         "0.985), frozen where it was at step ~100",
         overrides=["optim.scheduler._target_=torch.optim.lr_scheduler.ExponentialLR",
                    "+optim.scheduler.args.gamma=0.95"]),

    _bug("deal", "decoder_input_unshifted", "data", "leakage",
         "the decoder input built as the target itself (+EOS) where BOS + the target was meant: each step reads the "
         "token it must predict; training loss 7e-4 / 2e-4 / 6e-5 / 2e-5 after 100 / 400 / 800 / 1600 steps while the "
         "(correctly shifted) validation token accuracy is 0.09, loss 9-12 (clean 0.656 / 0.987 / 1.0 / 1.0)"),
    _bug("deal", "log_softmax_over_time", "loss", "loss_mismatch batch_dependence",
         "F.nll_loss(logits.log_softmax(1), ...) on (B, T, V) logits: normalised over the time axis where -1 (the "
         "vocabulary) was meant; validation token accuracy 0.143 / 0.316 / 0.286 / 0.337, exact 0.0 (clean 0.656 / "
         "0.987 / 1.0 / 1.0)"),
    _bug("deal", "weights_zeroed_by_name", "init", "params_not_updating vanishing_gradients",
         "the init loop zeroes every parameter whose name contains 'weight' ('bias' was meant): embeddings, GRU "
         "input and recurrent weights and the output layer start at 0; the input path gets an exactly zero gradient "
         "forever, the output does not depend on the word; validation token accuracy 0.22 throughout (loss 2.13)",
         root="params_not_updating"),
    _bug("deal", "memory_detached", "structure", "params_not_updating",
         "the encoder outputs .detach()ed (a cache for decoding kept the detach): the encoder GRU never trains, the "
         "decoder reads a random encoding through attention; validation token accuracy 0.451 / 0.615 / 0.649 / "
         "0.642, exact 0.02 / 0.11 / 0.10 / 0.12, training accuracy 0.87 at 1600 (memorising)"),
    _bug("deal", "adam_lr_1e-5", "hyperparameter", "lr_too_low",
         "optim.lr=1e-5 (1e-3 mistyped, 300x below the family's LR): validation token accuracy 0.055 / 0.162 / 0.188 / "
         "0.221 after 100 / 400 / 800 / 1600, loss 2.71 -> 2.40", overrides=["optim.lr=1e-05"]),

    _bug("ledger", "balance_one_step_late", "data", "labels_not_learnable",
         "the target at deposit i taken from balances[i + 1] (an index off by one): it depends on the next deposit, "
         "which the causal model has not seen; validation balance accuracy 0.108 / 0.106 / 0.087 / 0.089 after 100 / "
         "400 / 800 / 1600 steps (clean 0.277 / 0.994 / 1.0 / 1.0)"),
    _bug("ledger", "targets_shifted_again", "loss", "labels_not_learnable",
         "the loss shifts once more (logits[:, :-1] against targets[:, 1:]) targets that already are the next token: "
         "each balance is scored at the previous balance's position, before its deposit is seen; validation balance "
         "accuracy 0.079 / 0.076 / 0.105 / 0.079 after 200 / 400 / 800 / 1600"),
    _bug("ledger", "mask_hides_self", "mask", "nonfinite unstable_softmax",
         "torch.triu(ones, diagonal=0) for the causal mask where diagonal=1 was meant: no position may read itself, "
         "and the first position (BOS) may read nothing: a row of -inf, NaN from the first forward; plain loop: loss "
         "NaN, accuracy 0"),
    _bug("ledger", "blocks_detached", "structure", "params_not_updating",
         "h = h.detach() after each block (left from a truncated-backprop experiment): embeddings and both blocks get "
         "no gradient, only the final norm and the head train; validation balance accuracy 0.235 / 0.234 / 0.234 / "
         "0.234 after 200 / 400 / 800 / 1600"),
    _bug("ledger", "adamw_wd_50", "hyperparameter", "loss_floor overfit_batch_size_1 vanishing_gradients",
         "AdamW with weight_decay=50 (5e-2 mis-scaled): the decoupled decay shrinks every weight by 5% a step, the "
         "model stays near zero; validation balance accuracy 0.106 / 0.107 / 0.096 / 0.106 after 100 / 400 / 800 / "
         "1600, loss 2.47 -> 2.45 (chance 2.30)", root="loss_floor overfit_batch_size_1",
         overrides=["+optim.args.weight_decay=50.0"]),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
