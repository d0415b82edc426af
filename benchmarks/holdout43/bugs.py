"""The forty-third held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source, the policy or the tests: new models
on new synthetic data and new variations of the same kinds of mistakes. `named`/`root` use the public codes
(VOCABULARY); a code that describes a real consequence of the bug counts as named. Decided and committed before the
suite was first run on a bug. Clean models in a plain PyTorch loop (the family's Adam LR, batch 32, seed 0, the full
training set): churn validation accuracy 0.810 / 0.832 / 0.825 / 0.842 / 0.847 after 100 / 200 / 400 / 800 / 1600
steps (Bayes ~0.857); pluscount 0.60 / 0.87 / 0.90 / 0.95 / 0.95 after 100 / 400 / 800 / 1200 / 1600; mirrorword
validation token accuracy 0.852 / 0.970 / 0.983 / 0.995 after 100 / 200 / 600 / 800; swappairs 0.707 / 0.906 / 0.999
after 100 / 200 / 400. Bug consequences measured in the same loop before the commit are noted in `what`.
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("churn", "pluscount", "mirrorword", "swappairs")

BUGS: tuple[Bug, ...] = (
    _bug("churn", "codes_per_split", "data", "labels_not_learnable",
         "codes = factorize(val column): each categorical column's string -> id mapping (order of first appearance) "
         "rebuilt on the validation split instead of reusing the training split's, so plan / region / contract / "
         "payment ids mean other categories there; validation accuracy 0.60 / 0.58 after 100 / 1600 steps (training "
         "0.84 / 0.90) while the validation loss rises 1.16 -> 1.84"),
    _bug("churn", "log_not_log1p", "layer", "log_of_zero nonfinite",
         "torch.log(gb) where log1p was meant in the model's first layer: a fifth of the customers use 0 GB, log(0) = "
         "-inf; the first loss is NaN"),
    _bug("churn", "dropout_built_in_forward", "structure", "random_eval",
         "h = nn.Dropout(0.4)(h): a Dropout built inside forward is a new module in training mode, which model.eval() "
         "never reaches: evaluation drops 40% of the units at random; validation accuracy jumps 0.787 / 0.825 / 0.837 "
         "/ 0.843 / 0.802 / 0.838 at 100 / 200 / 400 / 800 / 1200 / 1600 steps (clean 0.81 -> 0.847 steadily)"),
    _bug("churn", "prior_bias_unlogged", "init", "bad_init_loss",
         "model.out.bias = class counts (meant log class frequencies): output biases of ~800..1100 on the full set; "
         "first loss 96 (chance 1.10); validation accuracy 0.53 / 0.75 / 0.785 after 100 / 400 / 1600 steps"),
    _bug("churn", "adam_eps_1", "hyperparameter", "lr_too_low",
         "Adam with eps=1.0 (an Inception recipe's TensorFlow epsilon): every step ~lr x gradient, far below lr; plain "
         "loop: validation accuracy 0.37 / 0.56 / 0.64 after 100 / 400 / 1600 steps",
         overrides=["optim._target_=torch.optim.Adam", "+optim.args.eps=1.0"]),

    _bug("pluscount", "scaled_by_255_twice", "data", "input_scale",
         "x = x / 255 again on pixels the loader already returned in [0, 1], before (x - 0.1) / 0.1: every input within "
         "0.04 of -1 (pixel std ~0.007 where clean has ~0.7-1.8); validation accuracy 0.16 (the majority count) "
         "through 1600 steps"),
    _bug("pluscount", "ordinal_bits_ge", "loss", "loss_mismatch",
         "targets (count >= k) for the ordinal bits where the read-out counts positive logits as (count > k): every "
         "training target says one more plus sign than the metrics read; the training loss falls to 0.004 while the "
         "task's own training loss rises 0.56 -> 1.91 and accuracy falls 0.33 -> 0.17"),
    _bug("pluscount", "pool_divides_by_numel", "layer", "batch_dependence",
         "h.sum((2, 3)) / h.numel() where h.mean((2, 3)) was meant: the pooled features are divided by B x C x H x W, "
         "so each image's output depends on the batch's size (training at 32, evaluating at 500/600); validation "
         "accuracy 0.15-0.17 through 1600 steps while the training loss falls 0.54 -> 0.18"),
    _bug("pluscount", "trunc_normal_mean_slip", "init", "bad_init_loss exploding_gradients saturated_units",
         "nn.init.trunc_normal_(conv.weight, 0.02) on the three convolutions: 0.02 is the mean, the std stays 1 "
         "(3x..21x PyTorch's default); first loss 83 (chance 0.57); validation accuracy 0.32 / 0.57 / 0.71 / 0.76 "
         "after 100 / 400 / 800 / 1600 steps (clean 0.60 / 0.87 / 0.90 / 0.95)", root="bad_init_loss"),
    _bug("pluscount", "exp_lr_per_step", "hyperparameter", "lr_too_low",
         "ExponentialLR(gamma=0.95) (meant per epoch) stepped every iteration: the LR is 0.003 x 0.95^t, 2e-5 "
         "after 100 steps; plain loop: validation accuracy 0.17 through 1600 steps",
         overrides=["optim.scheduler._target_=torch.optim.lr_scheduler.ExponentialLR",
                    "+optim.scheduler.args.gamma=0.95"]),

    _bug("mirrorword", "left_padded_for_packing", "data", "batch_dependence labels_not_learnable",
         "sources left-padded (the generation habit) while pack_padded_sequence reads the first src_len positions: "
         "in a padded batch the encoder reads PAD and loses the word's end (a word alone is read whole); validation "
         "token accuracy 0.61 / 0.80 / 0.835 after 100 / 400 / 800 steps (clean 0.85 / 0.98 / 0.995)",
         root="batch_dependence labels_not_learnable"),
    _bug("mirrorword", "mask_inverted", "mask", "batch_dependence",
         "masked_fill(~pad, -1e9) where masked_fill(pad, -1e9) was meant: the attention reads only the PAD positions "
         "of a padded word (zero encoder outputs), and spreads uniformly over the letters of a batch's longest word, "
         "so a word's output depends on its batch; validation token accuracy 0.51 / 0.81 / 0.865 after 100 / 400 / "
         "800 steps"),
    _bug("mirrorword", "bidir_state_view", "structure", "batch_dependence",
         "h.view(B, -1) on the encoder's (2, B, 64) final states where cat([h[0], h[1]], -1) was meant: example i's "
         "decoder starts from two examples' forward (or backward) states; validation token accuracy 0.82 / 0.969 / "
         "0.977 after 100 / 400 / 800 steps"),
    _bug("mirrorword", "orthogonal_gain_5", "init", "saturated_units exploding_gradients vanishing_gradients",
         "nn.init.orthogonal_(block, gain=5) on each recurrent gate block (tanh's gain is 5/3): recurrent matrices "
         "with singular values 5 saturate the GRUs' gates; validation token accuracy 0.54 / 0.76 / 0.92 / 0.97 after "
         "100 / 200 / 400 / 800 steps (clean 0.85 / 0.97 / 0.98 / 0.995)"),
    _bug("mirrorword", "attn_softmax_over_time", "layer", "leakage",
         "scores.softmax(1) on (B, T, S) scores (the decoder's steps) where softmax(-1) (the source) was meant: each "
         "step's attention weights are normalised with the later steps' scores, so an output depends on the target "
         "tokens after it; validation token accuracy 0.72 / 0.90 / 0.936 after 100 / 400 / 800 steps"),

    _bug("swappairs", "answer_mask_off_by_one", "data", "loss_mismatch",
         "lab[:len(w) + 1] = -100 where lab[:len(w)] was meant: the first answer letter (predicted at SEP) is never "
         "labelled, so never learnt, while the metrics score it; training loss 0.0014 at 800 steps, validation token "
         "accuracy 0.85, exact 0.12 (clean 0.999 / 0.996)"),
    _bug("swappairs", "mask_and_for_or", "mask", "leakage batch_dependence",
         "blocked = (future & pad) & ~own where (future | pad) was meant: only future PAD keys are blocked, and there "
         "are none in a left-padded batch: every position reads the whole sequence, the answer's next letters "
         "included, and the padding; learns faster than clean by reading the target (validation exact 0.90 / 1.0 "
         "after 100 / 200 steps, clean 0.31 / 0.63), useless for generation"),
    _bug("swappairs", "heads_split_by_view", "layer", "leakage batch_dependence",
         "q, k, v = t.reshape(B, heads, L, 16) where t.view(B, L, heads, 16).transpose(1, 2) was meant: each "
         "head's 'position' rows are pieces of four other positions, later ones included, so the causal mask no "
         "longer hides the future; validation exact 0.78 / 1.0 after 200 / 800 steps (clean 0.63 / 0.996)"),
    _bug("swappairs", "block_output_dropped", "structure", "params_not_updating",
         "x = block(h, blocked) in the loop over blocks where h = ... was meant: the blocks' outputs are thrown "
         "away, the head reads the embeddings alone, no gradient reaches either block; validation token accuracy "
         "0.21 through 800 steps"),
    _bug("swappairs", "warmup_100k_steps", "hyperparameter", "lr_too_low",
         "LinearLR(start_factor=0.001, total_iters=100000) (a warm-up written in examples, not steps): the LR "
         "crawls from 1e-6 and is 2e-5 after 2000 steps; plain loop: validation token accuracy 0.05 / 0.10 / 0.23 "
         "after 100 / 800 / 1600 steps",
         overrides=["optim.scheduler._target_=torch.optim.lr_scheduler.LinearLR",
                    "+optim.scheduler.args.start_factor=0.001", "+optim.scheduler.args.total_iters=100000"]),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
