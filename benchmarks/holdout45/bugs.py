"""The forty-fifth held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source, the policy or the tests: new models
on new synthetic data and new variations of the same kinds of mistakes. `named`/`root` use the public codes
(VOCABULARY); a code that describes a real consequence of the bug counts as named. Decided and committed before the
suite was first run on a bug. Clean models in a plain PyTorch loop (calibrate.py: the family's Adam LR, batch 32,
seed 0, the full training set): sensors validation flag accuracy 0.794 / 0.869 / 0.925 / 0.936 / 0.939 / 0.948
after 100 / 200 / 400 / 800 / 1600 / 2400 steps; glyphs validation accuracy 0.995 / 0.993 / 0.995 / 0.998 after
100 / 200 / 400 / 800; sortword validation token accuracy 0.918 / 0.952 / 0.977 / 0.984; progression validation
accuracy (predictable positions) 0.365 / 0.929 / 0.998 / 0.999, the same 0.998 when each position is predicted from
its prefix alone. Bug consequences measured in the same loop before the commit are noted in `what`.
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("sensors", "glyphs", "sortword", "progression")

BUGS: tuple[Bug, ...] = (
    _bug("sensors", "val_raw_readings", "data", "labels_not_learnable",
         "x[va] = raw[va]: the scaler fitted on the training split is applied to it only, the validation readings "
         "stay on their raw scales (0.1 .. 1000); training flag accuracy 0.82 / 0.95 / 0.99 after 100 / 400 / 2400 "
         "steps as clean, validation 0.54 / 0.52 / 0.49 (a coin), val/loss 164 -> 1616"),
    _bug("sensors", "labels_by_sign", "data", "loss_unbounded loss_mismatch",
         "y = np.sign(score) (-1/+1 flags, an SVM's habit) where (score > 0) was meant, fed to BCE with logits: the "
         "loss is linear and unbounded below for a target of -1; training loss -125 / -2.9e4 / -5e6 after 100 / 400 / "
         "2400 steps, flag accuracy 0.52-0.55 throughout"),
    _bug("sensors", "rare_prior_bias", "init", "bad_init_loss",
         "out.bias filled with -log((1 - 0.01) / 0.01) = -4.6 (RetinaNet's prior init for 1% positives) on flags that "
         "are on half the time: first loss 2.61 (3.8x chance 0.69); validation flag accuracy 0.73 / 0.78 / 0.90 / "
         "0.94 after 100 / 200 / 400 / 800 steps (clean 0.79 / 0.87 / 0.925 / 0.936): a slow start, the weakest bug"),
    _bug("sensors", "softmax_over_flags", "structure", "loss_mismatch overfit_batch_size_1 loss_floor",
         "logits.softmax(-1) at the model's end (a multi-class habit) on six independent flags, then BCE with logits: "
         "the outputs lie in (0, 1), so every flag reads as on; flag accuracy 0.507 (training) / 0.528 (validation, "
         "the share of flags on) at every step through 2400, loss 0.63"),
    _bug("sensors", "lr_3e-6", "hyperparameter", "lr_too_low",
         "optim.lr=3e-6 (for Adam at 0.003); plain loop: validation flag accuracy 0.58 / 0.60 / 0.61 after 800 / 1200 "
         "/ 1600 steps", overrides=["optim.lr=3e-6"]),

    _bug("glyphs", "header_row_misalign", "data", "labels_not_learnable",
         "x, y = x[1:], y[:-1] on the training split (a header line dropped from the images' file, not the labels'): "
         "every image paired with the previous image's label; training and validation accuracy 0.20 / 0.21 / 0.20 "
         "after 100 / 200 / 400 steps (chance 0.2)"),
    _bug("glyphs", "running_stats_discarded", "layer", "loss_mismatch",
         "running_mean.mul(1 - m).add(m * mean) (out of place, result dropped) in the hand-written BatchNorm: the "
         "buffers stay 0 / 1, so eval mode normalises with the wrong statistics; validation accuracy 0.91 / 0.84 / "
         "0.91 and val/loss 0.87 / 0.99 / 1.08 after 100 / 200 / 400 steps (clean 0.995 / 0.993 / 0.995, 0.10 / 0.09 "
         "/ 0.06) while the training loss falls as clean"),
    _bug("glyphs", "conv1_bias_minus2", "init", "dead_units params_not_updating",
         "conv1.bias filled with -2 (a 'sparse activations' init): conv1's outputs (std ~0.6) are below 0 almost "
         "everywhere, so most of its ReLUs are dead and get no gradient; first loss 1.65; validation accuracy 0.952 "
         "/ 0.972 / 0.988 after 100 / 200 / 400 steps (clean 0.995 / 0.993 / 0.995)"),
    _bug("glyphs", "dropout_functional", "structure", "random_eval",
         "F.dropout(h, 0.3) before the head: F.dropout's training=True default keeps it on in eval mode, so every "
         "evaluation is noisy; validation accuracy 0.982 / 0.978 / 0.995 after 100 / 200 / 400 steps (clean 0.995 / "
         "0.993 / 0.995)"),
    _bug("glyphs", "lr_0.5", "hyperparameter", "lr_too_high nonfinite exploding_gradients",
         "optim.lr=0.5 (for Adam at 0.003); plain loop: accuracy 0.18 / 0.21 / 0.21 after 100 / 200 / 400 steps "
         "(chance)", root="lr_too_high", overrides=["optim.lr=0.5"]),

    _bug("sortword", "source_cut_at_7", "data", "labels_not_learnable",
         "w = w[:7] on the source (a max source length of 7 from a config) while the targets keep all 8 letters of "
         "the longest words: one letter of each 8-letter target is absent from its input; validation token accuracy "
         "0.90 / 0.93 / 0.94 / 0.946 after 100 / 200 / 400 / 800 steps (clean 0.918 / 0.952 / 0.977 / 0.984)"),
    _bug("sortword", "mask_from_len_minus_1", "mask", "labels_not_learnable",
         "pad = places >= src_len - 1 (an off-by-one): each word's last letter is masked out of the attention with "
         "the padding, reachable only through the encoder's final state; validation token accuracy 0.871 / 0.927 / "
         "0.971 / 0.980 after 100 / 200 / 400 / 800 steps (clean 0.918 / 0.952 / 0.977 / 0.984): slower, weak"),
    _bug("sortword", "time_major_flatten", "loss", "batch_dependence loss_mismatch labels_not_learnable",
         "logits.transpose(0, 1).reshape(-1, V) (a time-major habit) against tgt.reshape(-1) (batch-first): each "
         "output scored against another word's target; training and validation token accuracy 0.16-0.17 through 400 "
         "steps, loss 2.35 (chance 2.56)"),
    _bug("sortword", "embedding_times_sqrt_d", "layer", "saturated_units vanishing_gradients exploding_gradients",
         "self.emb(ids) * sqrt(64) (a Transformer's embedding scale) into the GRUs: inputs of std ~8 push the gates "
         "to their rails; validation token accuracy 0.840 / 0.866 / 0.887 after 100 / 200 / 400 steps (clean 0.918 / "
         "0.952 / 0.977)"),
    _bug("sortword", "linear_lr_to_zero", "hyperparameter", "lr_too_low",
         "LinearLR(start_factor=1, end_factor=0, total_iters=100) (meant in epochs) stepped every iteration: the LR "
         "is 0 from step 100 on; plain loop: validation token accuracy 0.888 at 100 steps and still 0.888 at 800",
         overrides=["optim.scheduler._target_=torch.optim.lr_scheduler.LinearLR",
                    "+optim.scheduler.args.start_factor=1.0", "+optim.scheduler.args.end_factor=0.0",
                    "+optim.scheduler.args.total_iters=100"]),

    _bug("progression", "pad_id_collides", "data", "nonfinite labels_not_learnable loss_mismatch",
         "tok = torch.tensor(s) (values used as ids) where s + 1 was meant: the value 0 is the PAD id, so its keys "
         "are masked, its targets ignored, and a sequence starting at 0 has a query that may read no key (a fully "
         "masked row); the loss is NaN from the first step, accuracy 0.074"),
    _bug("progression", "mask_multiplied", "mask", "leakage",
         "s = s * ~blocked (blocked scores set to 0, not -inf): the future and the padding keep weight exp(0); "
         "validation accuracy 0.43 / 0.86 / 0.94 after 100 / 200 / 400 steps (clean 0.36 / 0.93 / 0.998), and 0.061 "
         "when each position is predicted from its prefix alone (clean 0.998): useless for generation"),
    _bug("progression", "norm_over_time", "layer", "leakage batch_dependence",
         "the hand-written LayerNorm takes x.mean(1) / x.var(1) (the sequence) where -1 (the features) was meant: "
         "each position's statistics include the future and the padding; validation accuracy 0.68 / 0.955 / 0.995 "
         "after 100 / 200 / 400 steps (clean 0.36 / 0.93 / 0.998), but 0.507 from prefixes alone (clean 0.998)"),
    _bug("progression", "head_tied_unscaled", "init", "bad_init_loss saturated_units",
         "self.head.weight = self.emb.weight (weight tying) with the embedding left at nn.Embedding's N(0, 1): logits "
         "of std ~8; first loss 45.6 (chance 2.56); validation accuracy 0.013 / 0.079 / 0.18 after 100 / 200 / 400 "
         "steps", root="bad_init_loss"),
    _bug("progression", "sgd_at_adam_lr", "hyperparameter", "lr_too_low",
         "optim.name=sgd keeping Adam's LR 0.001 on a Transformer; plain loop: loss 2.78 -> 2.69 and validation "
         "accuracy 0.076 / 0.081 / 0.082 after 100 / 200 / 400 steps", overrides=["optim.name=sgd"]),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
