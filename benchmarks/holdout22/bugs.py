"""The twenty-second held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source or tests: new models and new
variations of the same kinds of mistakes. `named`/`root` use the public codes (VOCABULARY); a code that
describes a real consequence of the bug counts as named. Written before the suite was first run on a bug; the
consequences in `what` were measured in plain PyTorch (Adam at 0.003, batch 32, seed 0) against the clean model.
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("perceiver", "transducer", "resmlp2", "dilcnn")

BUGS: tuple[Bug, ...] = (
    _bug("perceiver", "pad_filled_zero", "mask", "batch_dependence",
         "the cross-attention's key padding filled with 0.0 instead of -inf: every padding point gets weight e^0 and "
         "its (zero-input) value, so a set's output depends on how many padding slots its batch adds (alone vs in a "
         "batch of 8: 0.016 relative at init); validation MSE 0.11 after 400 steps (clean 0.074)"),
    _bug("perceiver", "latents_same_init", "init", "symmetric_units",
         "one latent drawn and repeated 8 times (randn(1, D).repeat(8, 1)): the 8 latents get the same gradient and "
         "stay exact copies (max difference 0.0 after 200 Adam steps), the model works with one latent; validation "
         "MSE 0.32 after 400 steps on 3000 sets (clean 0.074)"),
    _bug("perceiver", "squared_mean_error", "loss", "loss_mismatch",
         "the loss ((pred - y).mean()) ** 2 (the mean error squared) instead of the mean squared error: errors of "
         "opposite sign cancel, the optimised loss falls to ~1e-3..1e-16 while the training MSE stays at 0.71 (10 "
         "sets) and 1.08 (100, 3000; chance 1.0)"),
    _bug("perceiver", "targets_of_previous_set", "data", "labels_not_learnable",
         "the targets rolled by one (each set paired with the spread of the set before it): 10 sets are memorised, "
         "100 reach training MSE 0.78 after 400 steps (clean 0.006), 3000 stay at training 1.08 / validation 1.00"),

    _bug("transducer", "mask_from_tgt_lengths", "mask", "batch_dependence",
         "the attention's key mask built from the target lengths instead of the source lengths: real source words "
         "past the target's length are hidden and, in a batch, padding up to the target's length is attended (alone "
         "vs in a batch 0.034 relative at init); silently wrong in batches of mixed lengths (validation token "
         "accuracy 0.998 after 300 steps, about as clean's 0.9995)"),
    _bug("transducer", "reversed_with_padding", "structure", "batch_dependence",
         "the source reversed with src.flip(1) (Sutskever's trick) on the right-padded batch: the padding comes first "
         "and the encoder state at 'the last real step' indexes the wrong positions; an example's output depends on "
         "its batch's width (alone vs in a batch 0.28 relative); 10 and 100 examples are memorised, 3000 stop at "
         "validation token accuracy 0.88 after 300 steps (clean 0.999)"),
    _bug("transducer", "train_targets_reversed", "data", "labels_not_learnable",
         "the 'reverse the output' trick applied to the training split only (digits reversed, EOS kept last), the "
         "validation targets left in order: training accuracy 1.0 on 10, 100 and 3000 while validation token "
         "accuracy stays at 0.28-0.38 (clean 0.999)"),
    _bug("transducer", "lr_0_2", "hyperparameter", "lr_too_high exploding_gradients nonfinite",
         "Adam at LR 0.2 (an SGD-sized LR): 10 examples oscillate (loss 0.19 -> 2.3 -> 0.15 in 300 steps), 3000 stay "
         "near chance (training token accuracy 0.24 after 300 steps, loss 2.4 vs chance 2.4)",
         root="lr_too_high", overrides=["optim.lr=0.2"]),

    _bug("resmlp2", "target_in_cents", "data", "input_scale",
         "the price target taken raw from the table in cents (mean ~2000, std ~700) beside two standardised targets: "
         "first loss 1.5e6 (chance 2.7e5 as the mean variance), training MSE still 8e5-1e6 after 400 steps on 10, "
         "100 or 4000 rows (clean reaches 0.06)"),
    _bug("resmlp2", "branch_linears_zero", "init", "params_not_updating",
         "the zero init meant for each residual branch's last linear (fc2.weight) applied to its first linear too, "
         "weights and biases: gelu(0) = 0 blocks fc2's gradient and fc2 = 0 blocks fc1's, so the 4 blocks never "
         "move (fc1 and fc2 weights get exactly zero gradient) and the model is the stem and the head alone; "
         "validation MSE 0.63 after 400 steps (clean 0.06), 100 rows stop at training MSE 0.28"),
    _bug("resmlp2", "category_ids_one_based", "data", "task_error",
         "the category codes read 1-based into embedding tables sized for 0-based ids: the largest code of each "
         "column is out of range, the first batch raises IndexError 'index out of range in self'"),
    _bug("resmlp2", "sgd_at_adam_lr", "hyperparameter", "lr_too_low",
         "optim.name=sgd with the LR 0.003 tuned for Adam: 10 rows fit slowly (training MSE 0.0002 after 300 steps), "
         "100 stop at 0.41 after 400 steps (Adam: 0.001), 4000 at validation 0.66 (Adam: 0.06)",
         overrides=["optim.name=sgd"]),

    _bug("dilcnn", "crop_wrong_end", "mask", "leakage",
         "the symmetric padding of each dilated conv cropped at the start (h[..., pad:]) instead of the end: position "
         "t sees t + d, so the model reads the value it must predict; validation MSE 0.0084 after 300 steps (clean "
         "0.061; a causal model cannot beat the noise floor and the sines' unpredictability), silently wrong: useless "
         "for forecasting"),
    _bug("dilcnn", "skips_detached", "structure", "params_not_updating",
         "the skip outputs .detach()ed (meant for a logging copy): every conv before the head (30 tensors) gets no "
         "gradient, only the two 1x1 post convs train on random features; validation MSE 0.18 after 300 steps "
         "(clean 0.061), 10 series at training MSE 0.18"),
    _bug("dilcnn", "inputs_are_targets", "loss", "loss_mismatch",
         "the loss calls model(b[-1]) (the targets) instead of model(b[0]): a causal model copies its current input, "
         "the optimised loss falls to 2e-5 while the training MSE on the real inputs stays at 0.61 (10), 0.58 (100), "
         "0.62 (3000)"),
    _bug("dilcnn", "multistep_per_iteration", "hyperparameter", "lr_too_low",
         "MultiStepLR(milestones=[30, 60, 90], gamma=0.1) meant in epochs, stepped per iteration: the LR is 3e-6 from "
         "step 90 on; 10 series stop at training MSE 0.10 (clean 0.03 by step 300), 3000 at validation 0.12 "
         "after 600 steps (clean 0.05)",
         overrides=["optim.scheduler._target_=torch.optim.lr_scheduler.MultiStepLR",
                    "+optim.scheduler.args.milestones=[30,60,90]", "+optim.scheduler.args.gamma=0.1"]),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
