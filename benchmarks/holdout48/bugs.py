"""The forty-eighth held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from README.md and docs/diagnostics.md alone (with orchestrator/task.py, the bug-suite harness and holdout44/46
for format), without reading the diagnostics' source, the policy or the tests: new models on new synthetic data and
mistakes a practitioner makes. `named`/`root` use the public codes (VOCABULARY); a code that describes a real
consequence of the bug counts as named. Decided and committed before the suite was first run on a bug. Clean models in
a plain PyTorch loop (calibrate.py: the family's optimiser and LR, batch 32, seed 0, the full training set): blends
validation `both` 0.76 / 0.82 / 0.89 / 0.93 / 0.955 after 100 / 200 / 400 / 800 / 1600 steps (Adam 0.003); pulses
validation sample accuracy 0.932 / 0.975 / 0.991 / 0.994 / 0.994 (SGD 0.05, momentum 0.9); spoken validation symbol
accuracy 0.970 / 0.987 / 0.987 / 0.986 after 200 / 400 / 800 / 1600 (Adam 0.003); tallies validation tag accuracy
0.865 / 0.981 / 0.978 / 0.999 after 200 / 400 / 800 / 1600 (Adam 0.001). Bug consequences measured in the same loop
before the commit are noted in `what`.
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("blends", "pulses", "spoken", "tallies")

BUGS: tuple[Bug, ...] = (
    _bug("blends", "row_normalised", "data", "labels_not_learnable",
         "x / x.sum(1) on every raw spectrum ('normalise to unit area') before standardising: the brightness target "
         "no longer follows from the inputs (only the noise floor hints at it); validation R² -0.07 / 0.02 / 0.18 / 0.29 "
         "and `both` 0.10 / 0.09 / 0.12 / 0.14 after 100 / 400 / 800 / 1600 steps (clean 0.76 / 0.89 / 0.93 / 0.955) "
         "while class accuracy stays 0.99"),
    _bug("blends", "amount_from_class_column", "loss", "loss_mismatch params_not_updating",
         "the loss reads the brightness from out[:, 3] (the last class's logit) where out[:, 4] was meant; the metrics "
         "read column 4, which no loss term reaches, and class 3's logit is pulled towards the brightness; optimised "
         "loss 0.005 after 1600 steps while validation R² is 0.15 / 0.19 / 0.18 / 0.22 and `both` ~0.10"),
    _bug("blends", "normal_mean_not_std", "init", "bad_init_loss saturated_units vanishing_gradients",
         "nn.init.normal_(w, 0.1) on the three Linear layers: the second positional argument is the mean, so every "
         "weight is N(0.1, 1) where std 0.1 was meant (~5x-8x PyTorch's default, all biased positive): the Tanh units "
         "sit at their rails; first loss 61 (clean 2.5); validation `both` 0.06 / 0.06 / 0.13 / 0.19 after 100 / 400 / "
         "800 / 1600", root="bad_init_loss saturated_units"),
    _bug("blends", "activations_forgotten", "structure", "loss_floor overfit_batch_size_1",
         "the trunk's Tanh layers replaced by Identity (a refactor that built the activations from a flag left off): "
         "the model is linear; the dominant source is linearly separable, the log brightness is not: validation R² "
         "0.96, `both` 0.53 / 0.51 / 0.50 / 0.53 after 100 / 400 / 800 / 1600 (clean 0.76 / 0.89 / 0.93 / 0.955)"),
    _bug("blends", "lr_3", "hyperparameter", "lr_too_high exploding_gradients nonfinite",
         "optim.lr=3 (3e-3 mistyped); plain loop: loss 35 / 31 / 19 / 146, validation `both` 0.01 / 0.12 / 0.12 / 0.0",
         overrides=["optim.lr=3.0"]),

    _bug("pulses", "crop_offsets_differ", "data", "labels_not_learnable",
         "the random 80-sample crop draws a new offset for the labels instead of reusing the trace's: each fetch pairs "
         "a window of the trace with another window of its labels; validation sample accuracy 0.87 / 0.90 / 0.92 / 0.91 "
         "after 100 / 400 / 800 / 1600 steps (clean 0.93 / 0.99 / 0.994 / 0.994), exact 0.03"),
    _bug("pulses", "loss_summed", "loss", "bad_init_loss lr_too_high nonfinite exploding_gradients",
         "cross_entropy(..., reduction='sum') over every sample of the batch (32 x 80 = 2560x the mean) under SGD at "
         "the mean's LR: the first step diverges; plain loop: loss NaN from the first steps, validation accuracy 0.82 "
         "(all background) throughout"),
    _bug("pulses", "init_std_1e-3", "init", "vanishing_gradients lr_too_low overfit_batch_size_1",
         "nn.init.normal_(w, 0, 1e-3) on every convolution ('small weights are safe'; PyTorch's default std ~0.06-0.26): "
         "the signal shrinks ~100x per layer through five layers and SGD's gradients with it; validation accuracy 0.82 "
         "(all background) at 100 / 400 / 800 steps, 0.986 at 1600 (clean 0.994)",
         root="vanishing_gradients"),
    _bug("pulses", "strided_then_upsampled", "structure", "loss_floor overfit_batch_size_1",
         "stride 2 in the second convolution ('to save compute'), the logits upsampled (nearest) to the input length "
         "at the end: pulse edges are resolved to 2 samples at best; validation accuracy 0.915 / 0.973 / 0.976 / 0.977 "
         "and exact 0.14 / 0.58 / 0.61 / 0.62 (clean 0.93 / 0.99 / 0.994 / 0.994, exact 0.97)"),
    _bug("pulses", "clip_1e-3", "hyperparameter", "lr_too_low vanishing_gradients",
         "optim.clip_norm=0.001 (a clipping threshold of 1e-3 copied from a value meant for something else) under SGD: "
         "every step is at most LR x 0.001 long; validation accuracy 0.05 / 0.15 / 0.82 / 0.82 (all background) after "
         "100 / 400 / 800 / 1600, loss 1.2 -> 0.74", root="lr_too_low",
         overrides=["optim.clip_norm=0.001"]),

    _bug("spoken", "frames_sorted_alone", "data", "labels_not_learnable",
         "the training frames sorted by length for bucketing while the label list keeps its order: every utterance gets "
         "another's symbols; validation symbol accuracy 0.0 / 0.0 / 0.035 / 0.058 after 100 / 200 / 400 / 800 steps "
         "(clean 0.97 at 200)"),
    _bug("spoken", "no_log_softmax", "loss", "loss_unbounded loss_mismatch",
         "the model returns raw scores and F.ctc_loss reads them as log-probabilities (the log-softmax forgotten): the "
         "first loss is -3.3 (clean 7.3, a loss that should be a negative log-likelihood), training wanders before it "
         "learns; validation symbol accuracy 0.0 / 0.36 / 0.94 / 0.97 after 200 / 400 / 800 / 1600 (clean 0.97 / 0.987 "
         "/ 0.987 / 0.986): the mildest bug of the family, it delays rather than blocks"),
    _bug("spoken", "input_gain_x50", "init", "saturated_units bad_init_loss vanishing_gradients",
         "the input layer's weights multiplied by 50 after init ('make the features louder'): its Tanh is at the rails "
         "for most frames, only the sign of each projection gets through; validation symbol accuracy 0.89 / 0.92 / 0.94 "
         "/ 0.94 after 200 / 400 / 800 / 1600 (clean 0.97 / 0.987 / 0.987 / 0.986)", root="saturated_units bad_init_loss"),
    _bug("spoken", "batch_first_forgotten", "structure", "batch_dependence",
         "nn.GRU(32, 96) without batch_first=True on (B, T, F) frames: the recurrence runs across the "
         "batch, each time step of an utterance sees the other utterances' frames at that step and none of its own "
         "neighbours; validation symbol accuracy 0.80 / 0.83 / 0.83 / 0.82 after 200 / 400 / 800 / 1600 (clean 0.97 / "
         "0.987 / 0.987 / 0.986)"),
    _bug("spoken", "linear_decay_in_epochs", "hyperparameter", "lr_too_low",
         "LinearLR(start_factor=1, end_factor=0, total_iters=60) meant as 60 epochs, stepped every iteration: the LR is "
         "0 after 60 steps; validation symbol accuracy 0.0 at 100 / 200 / 400 / 800 (loss stuck at 1.9)",
         overrides=["optim.scheduler._target_=torch.optim.lr_scheduler.LinearLR",
                    "+optim.scheduler.args.start_factor=1.0", "+optim.scheduler.args.end_factor=0.0",
                    "+optim.scheduler.args.total_iters=60"]),

    _bug("tallies", "counted_before_truncation", "data", "labels_not_learnable",
         "the tags counted on the raw string of length + 6 letters, which is then cut to its length: a letter's tag "
         "also counts occurrences the model never sees; validation tag accuracy 0.47 / 0.52 / 0.52 / 0.50 after 200 / "
         "400 / 800 / 1600 (clean 0.87 / 0.98 / 0.98 / 0.999)"),
    _bug("tallies", "mask_convention_flipped", "mask", "nonfinite",
         "pad = tokens != PAD (an attention_mask, 1 = attend, Hugging Face's convention) where True = ignore is "
         "expected: each query may read only the padding, and the batch's longest string, which has none, gets a row "
         "of -inf: NaN from the first forward; plain loop: loss NaN, accuracy 0.32"),
    _bug("tallies", "heads_split_wrong", "layer", "batch_dependence labels_not_learnable",
         "q, k, v reshaped to (b, heads, t, dh) straight from (b, t, d) where view(b, t, heads, dh).transpose(1, 2) was "
         "meant: each 'head' holds slices of several positions, so a token's query and key mix other positions' "
         "features (the padding's too, so an output depends on its batch's width); validation tag accuracy 0.41 / 0.42 "
         "/ 0.81 / 0.93 after 200 / 400 / 800 / 1600 (clean 0.87 / 0.98 / 0.98 / 0.999)"),
    _bug("tallies", "encoder_normal_std1", "init", "bad_init_loss saturated_units exploding_gradients vanishing_gradients",
         "nn.init.normal_(m.weight) on every Linear (TensorFlow's random_normal default stddev 1.0; ~14x PyTorch's "
         "default for 64 inputs, 20x for the 128-wide feed-forward): first loss 8.0 (chance 1.39), validation tag "
         "accuracy 0.32 / 0.34 / 0.36 / 0.37 after 200 / 400 / 800 / 1600", root="bad_init_loss saturated_units"),
    _bug("tallies", "adam_l2_0.5", "hyperparameter", "lr_too_low loss_floor overfit_batch_size_1 vanishing_gradients",
         "Adam with weight_decay=0.5 (coupled L2, meant 5e-4 or AdamW's decoupled 0.05): the penalty's gradient "
         "dominates Adam's normalised step and holds every weight near 0; validation tag accuracy 0.37 (the majority "
         "tag) at 200 / 400 / 800 / 1600, loss 1.3",
         overrides=["optim._target_=torch.optim.Adam", "+optim.args.weight_decay=0.5"]),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
