"""The fifty-ninth held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from README.md and docs/diagnostics.md alone (with orchestrator/task.py, the bug-suite harness and holdout55/56
for format), without reading the diagnostics' source, the policy or the tests: new models on new synthetic data and
mistakes a practitioner makes. `named`/`root` use the public codes (VOCABULARY); a code that describes a real
consequence of the bug counts as named. Decided and committed before the suite was first run on a bug (only clean runs
had gone through the CLI, to set the goals; the hyperparameter overrides were checked with Hydra's `--cfg job`, which
composes the config without training). Clean models in a plain PyTorch loop (calibrate.py: the family's optimiser, LR and
batch size, seed 0, the full training set): loaves validation R² 0.806 / 0.931 / 0.976 / 0.978 after 100 / 400 / 800 /
1600 steps (AdamW 0.003, weight decay 0.01, batch 64); sparklines validation accuracy 0.735 / 0.945 / 0.977 / 0.992 (SGD,
momentum 0.9, weight decay 5e-4, 0.05, batch 48); runs validation exact (greedy) 0.052 / 0.935 / 0.985 / 1.000 (Adam
0.003, batch 32); uniq validation exact (greedy generation) 0.004 / 0.808 / 0.994 / 0.994 (AdamW 0.001, betas 0.9/0.95,
batch 32). Bug consequences measured in the same loop before the commit are noted in `what` (steps 100 / 400 / 800 /
1600). Candidates measured and replaced because they did not hurt the plain loop: loaves' output bias started at the
volume's raw mean (2.78 mL/g) while the targets are standardised (first loss 7, then validation R² 0.962 / 0.973 at 800 /
1600 against 0.976 / 0.978: a delay, not a fault); sparklines' cross-entropy with reduction="sum" (48x the gradient under
SGD: faster, validation accuracy 0.997 at 800) and then F.nll_loss on softmax probabilities (slower at first, 0.978 at
800 against 0.977). While the families were set up (before any bug was measured): sparklines' first images (noise 0.1,
no specks, amplitudes 0.5-1) were solved at 100 steps and by random convolutions (a plain-list candidate reached 0.975),
so the noise went to 0.3 with six clutter specks and amplitudes 0.3-1; uniq's first strings could reuse a digit in a
later run ("9 9 7 9"), where two blocks stalled at validation exact 0.89, so each run takes a digit of its own.
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("loaves", "sparklines", "runs", "uniq")

BUGS: tuple[Bug, ...] = (
    _bug("loaves", "oven_codes_per_split", "data", "labels_not_learnable",
         "the validation split's oven names coded with a table of its own (order of first appearance) instead of the "
         "training split's: three of the six ovens (the hottest among them) get another oven's code; validation R² 0.528 "
         "/ 0.588 / 0.595 / 0.595 while training R² reaches 0.986 (clean validation 0.806 / 0.931 / 0.976 / 0.978)"),
    _bug("loaves", "prediction_not_squeezed", "loss", "batch_dependence loss_mismatch",
         "F.mse_loss on the (B, 1) prediction and the (B,) targets (.squeeze(-1) forgotten): broadcast to (B, B), every "
         "prediction scored against every target (PyTorch's size warning aside); the model learns the mean: validation "
         "R² 0.013 / 0.023 / -0.001 / 0.016"),
    _bug("loaves", "uniform_default_range", "init", "bad_init_loss exploding_gradients",
         "nn.init.uniform_(w) on the three Linear weights for a 'uniform init': its default range is U(0, 1), every weight "
         "positive (RMS 0.58, 3-11x PyTorch's default scale): first loss 2.9e7 (chance 1.0); validation R² -1.7e6 / "
         "-5.7e4 / -953 / -222", root="bad_init_loss"),
    _bug("loaves", "oven_embedding_frozen", "structure", "params_not_updating",
         "nn.Embedding.from_pretrained(torch.zeros(6, 4)) to start every oven at zero, whose default freeze=True keeps them "
         "there: the model never tells the ovens apart; validation R² 0.530 / 0.558 / 0.606 / 0.608"),
    _bug("loaves", "multistep_in_epochs", "hyperparameter", "lr_too_low",
         "MultiStepLR(milestones=[40, 80], gamma=0.1), milestones in epochs (~47 steps each) stepped every iteration: the "
         "LR is 3e-5 from step 80 on; validation R² 0.608 / 0.633 / 0.670 / 0.728",
         overrides=["optim.scheduler._target_=torch.optim.lr_scheduler.MultiStepLR",
                    "+optim.scheduler.args.milestones=[40,80]", "+optim.scheduler.args.gamma=0.1"]),

    _bug("sparklines", "mirror_augment", "data", "labels_not_learnable",
         "a left-right mirror added to the jitter, as for photographs: it turns a rise into a fall and a step up into a "
         "step down, the label kept; validation accuracy 0.630 / 0.713 / 0.687 / 0.762 (clean 0.735 / 0.945 / 0.977 / "
         "0.992)"),
    _bug("sparklines", "ignore_index_zero", "loss", "loss_mismatch labels_not_learnable",
         "F.cross_entropy(..., ignore_index=0) copied from a tagger's loss (PAD = 0 there), where 0 is the class 'rise': "
         "its examples never train; the optimised loss falls to 0.0065 while the loss over every class stays at 1.87; "
         "validation accuracy 0.605 / 0.865 / 0.872 / 0.862", root="loss_mismatch"),
    _bug("sparklines", "bn_gain_zero", "init", "params_not_updating dead_units vanishing_gradients",
         "nn.init.zeros_ on every BatchNorm2d weight (the ResNet trick for a residual branch's last BatchNorm, applied to "
         "a plain stack): every block outputs ReLU(0) = 0 and no gradient reaches a convolution or a gain; loss 2.08 "
         "(chance) throughout, validation accuracy 0.117 / 0.132 / 0.132 / 0.132",
         root="params_not_updating dead_units"),
    _bug("sparklines", "blocks_in_plain_list", "structure", "params_not_updating batch_dependence",
         "self.blocks = [...] where nn.ModuleList was meant: the convolutions and BatchNorms are not registered, so the "
         "optimiser holds only the head (random features), and eval() never reaches the BatchNorms; validation accuracy "
         "0.432 / 0.548 / 0.607 / 0.645", root="params_not_updating"),
    _bug("sparklines", "sgd_lr_3e-4", "hyperparameter", "lr_too_low",
         "optim.lr=0.0003 (an Adam LR under SGD; 0.05 meant): validation accuracy 0.182 / 0.313 / 0.402 / 0.610",
         overrides=["optim.lr=0.0003"]),

    _bug("runs", "sources_sorted_alone", "data", "labels_not_learnable batch_dependence",
         "srcs = sorted(srcs, key=len, reverse=True) for pack_padded_sequence(enforce_sorted=True), the codes left in "
         "their own order: each source gets another string's code (fetched alone, an example is whole); validation exact "
         "0.002 / 0.000 / 0.000 / 0.000, token accuracy 0.28 (clean exact 0.052 / 0.935 / 0.985 / 1.000)"),
    _bug("runs", "targets_time_major", "loss", "batch_dependence loss_mismatch labels_not_learnable",
         "tgt_out.t().reshape(-1) (a time-major decoder's flattening) against batch-first logits.reshape(-1, V): each "
         "output is scored against another string's token at another step; validation exact 0.000 throughout, token "
         "accuracy 0.13", root="batch_dependence loss_mismatch"),
    _bug("runs", "lstm_weights_std_1", "init", "saturated_units bad_init_loss exploding_gradients vanishing_gradients",
         "nn.init.normal_(w) on both LSTMs' weight matrices, std=1/sqrt(H) forgotten (std 1.0: 20x PyTorch's default): "
         "gates at their rails; validation exact 0.012 / 0.062 / 0.130 / 0.235", root="saturated_units bad_init_loss"),
    _bug("runs", "attention_mask_inverted", "mask", "batch_dependence",
         "scores.masked_fill(src != PAD, -1e9) where src == PAD was meant: a padded string attends only to its padding "
         "(zero encoder outputs), an unpadded one uniformly to all its letters; the decoder must carry everything in its "
         "state; validation exact 0.038 / 0.462 / 0.640 / 0.742"),
    _bug("runs", "adam_lr_0.03", "hyperparameter", "lr_too_high exploding_gradients nonfinite",
         "optim.lr=0.03 (3e-3 meant): faster at first, then unstable; validation exact 0.467 / 0.835 / 0.788 / 0.873 "
         "(clean 1.000 at 1600)", root="lr_too_high", overrides=["optim.lr=0.03"]),

    _bug("uniq", "labels_not_shifted", "data", "leakage loss_mismatch",
         "targets = line[:-1], sliced like the tokens (line[1:] meant): each answer position is taught its own input "
         "token; the training loss falls to 3e-8 while greedy validation exact and the evaluation's token accuracy stay "
         "at 0.000 (clean exact 0.004 / 0.808 / 0.994 / 0.994)"),
    _bug("uniq", "loss_mask_skips_first_answer", "loss", "loss_mismatch labels_not_learnable",
         "targets[i, :sep + 1] = -100 ('the answer starts after SEP'), where SEP's own position, whose target is the "
         "answer's first digit, should be scored: the first digit is never taught; training loss 3e-5 at 1600 while "
         "the evaluation's loss is 1.77; validation exact 0.000 / 0.062 / 0.026 / 0.022, token accuracy 0.83",
         root="loss_mismatch"),
    _bug("uniq", "heads_merged_without_transpose", "structure", "leakage batch_dependence",
         "the attention output (B, H, T, dh) reshaped to (B, T, D) without transpose(1, 2) first: each position's row is "
         "made of other positions' heads, later ones included; validation exact 0.000 through 1600 steps, token accuracy "
         "0.925"),
    _bug("uniq", "head_tied_to_unit_embedding", "init", "bad_init_loss",
         "self.head.weight = self.emb.weight, weight tying with the embedding left at nn.Embedding's N(0, 1) (GPT ties "
         "them at std 0.02): logits of std ~8 after the final LayerNorm; first loss 45 (chance 2.64); validation exact "
         "0.000 / 0.120 / 0.360 / 0.932"),
    _bug("uniq", "warmup_in_examples", "hyperparameter", "lr_too_low",
         "LinearLR(start_factor=0.001, total_iters=100000), a warm-up counted in examples stepped per iteration: the LR "
         "stays near 1e-6..2e-5 for the whole run; loss 2.32 at 1600 (chance 2.64), validation exact 0.000",
         overrides=["optim.scheduler._target_=torch.optim.lr_scheduler.LinearLR",
                    "+optim.scheduler.args.start_factor=0.001", "+optim.scheduler.args.total_iters=100000"]),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
assert len(BUGS) == 20 and all(sum(b.family == f for b in BUGS) == 5 for f in FAMILIES)
