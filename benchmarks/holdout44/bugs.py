"""The forty-fourth held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source, the policy or the tests: new models
on new synthetic data and new variations of the same kinds of mistakes. `named`/`root` use the public codes
(VOCABULARY); a code that describes a real consequence of the bug counts as named. Decided and committed before the
suite was first run on a bug. Clean models in a plain PyTorch loop (the family's Adam LR, batch 32, seed 0, the full
training set): harvest validation R² 0.894 / 0.926 / 0.963 / 0.968 / 0.968 after 100 / 200 / 400 / 800 / 1600 steps;
barchart validation accuracy 0.973 / 0.968 / 0.975 / 0.990 / 0.983; unzipword validation token accuracy 0.743 /
0.921 / 0.981 / 0.999 / 1.0 after 100 / 200 / 400 / 800 / 1200; twinletter 0.957 / 1.0 after 100 / 200. Bug
consequences measured in the same loop before the commit are noted in `what`.
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("harvest", "barchart", "unzipword", "twinletter")

BUGS: tuple[Bug, ...] = (
    _bug("harvest", "sorted_before_split", "data", "labels_not_learnable",
         "order = np.argsort(y) where a random permutation was meant: the records sorted by yield before the "
         "3000 / 600 split, so validation holds only the 600 highest yields, outside anything the training split "
         "shows; validation R² -2.74 / -2.36 / -2.05 after 100 / 400 / 1600 steps while training R² rises 0.68 -> "
         "0.95"),
    _bug("harvest", "nll_divides_by_logvar", "loss", "loss_unbounded loss_mismatch division_by_zero nonfinite",
         "0.5 * (logvar + (y - mean)**2 / logvar) where / logvar.exp() was meant: the loss is not a likelihood, "
         "unbounded below as logvar -> 0 from below (first loss -11.2 where the NLL is ~0.75); validation R² 0.18 / "
         "0.43 / 0.89 after 100 / 400 / 1600 steps (clean 0.89 / 0.96 / 0.97)",
         root="loss_unbounded loss_mismatch division_by_zero"),
    _bug("harvest", "uniform_default_range", "init", "bad_init_loss exploding_gradients",
         "nn.init.uniform_(layer.weight) on the three Linear layers: U(0, 1) by default, every weight positive "
         "(PyTorch's own init is U(-1/sqrt(fan_in), +)); first loss 13.3 (chance 0.5); validation R² -0.17 / 0.64 / "
         "0.91 after 100 / 400 / 1600 steps", root="bad_init_loss"),
    _bug("harvest", "layernorm_over_batch", "layer", "batch_dependence",
         "the hand-written LayerNorm takes h.mean(0) / h.var(0) (the batch) where -1 (the features) was meant: each "
         "field's prediction depends on its batch-mates (32 in training, 500 / 600 in evaluation); validation R² "
         "0.932 / 0.955 / 0.953 after 100 / 400 / 1600 steps (clean 0.894 / 0.963 / 0.968)"),
    _bug("harvest", "sgd_adam_lr", "hyperparameter", "lr_too_low",
         "the optimiser switched to plain SGD keeping Adam's LR 0.003: steps ~LR x gradient, far smaller than "
         "Adam's; plain loop: validation R² 0.285 / 0.679 / 0.863 after 100 / 400 / 1600 steps",
         overrides=["optim._target_=torch.optim.SGD"]),

    _bug("barchart", "flip_relabels_all", "data", "labels_not_learnable",
         "tallest = 3 - tallest for the whole batch where torch.where(flip, 3 - tallest, tallest) was meant: the "
         "unflipped half of every batch gets the mirrored class, so a chart means its class or its mirror at random; "
         "validation accuracy 0.53 / 0.33 / 0.52 / 0.37 / 0.58 after 100 / 200 / 400 / 800 / 1600 steps"),
    _bug("barchart", "features_detached", "structure", "params_not_updating",
         "self.head(x.detach()) (a linear-probe habit) where self.head(x) was meant: no gradient reaches the "
         "convolutions or BatchNorms, the head learns on random features; validation accuracy 0.77 / 0.90 / 0.885 / 0.88 after 100 / 400 / "
         "800 / 1600 steps (clean 0.97 / 0.975 / 0.99 / 0.983)"),
    _bug("barchart", "normal_init_std1", "init", "bad_init_loss exploding_gradients",
         "nn.init.normal_(m.weight) on every Conv2d and Linear: std 1 (21x PyTorch's default for the convolutions, "
         "25x for Linear(640, 64)); the BatchNorms absorb the convolutions' scale, not the head's: first loss 202 "
         "(chance 1.39), validation accuracy 0.71 / 0.83 / 0.91 / 0.925 after 100 / 400 / 800 / 1600 steps (clean "
         "0.97 / 0.975 / 0.99 / 0.983)", root="bad_init_loss"),
    _bug("barchart", "global_pool_head", "structure", "labels_not_learnable",
         "nn.AdaptiveAvgPool2d(1) before the head (a ResNet template's) where Flatten was meant: the bars' places, "
         "which the class is, are averaged away (only the padding's edges tell them apart); validation accuracy "
         "0.34 / 0.54 / 0.86 / 0.81 / 0.87 after 100 / 200 / 400 / 800 / 1600 steps"),
    _bug("barchart", "multistep_in_epochs", "hyperparameter", "lr_too_low",
         "MultiStepLR(milestones=[30, 60, 90], gamma=0.1) (meant in epochs) stepped every iteration: the LR is 3e-6 "
         "after 90 steps; plain loop: validation accuracy 0.93 / 0.93 / 0.94 after 100 / 400 / 1600 steps (clean "
         "0.97 / 0.975 / 0.983)",
         overrides=["optim.scheduler._target_=torch.optim.lr_scheduler.MultiStepLR",
                    "+optim.scheduler.args.milestones=[30,60,90]", "+optim.scheduler.args.gamma=0.1"]),

    _bug("unzipword", "bos_forgotten", "data", "leakage",
         "tgt_in[i, :len(t) - 1] = t[:-1] where [BOS] + t[:-1] was meant: the decoder's input at step j is the "
         "target at step j, so teacher forcing hands it the answer; validation token accuracy 1.0 from 100 steps on "
         "(clean 0.74), useless for generation"),
    _bug("unzipword", "targets_shifted_twice", "loss", "loss_mismatch",
         "cross_entropy(logits[:, :-1], tgt[:, 1:]) (a language model's shift) on targets already aligned with "
         "tgt_in: each step is taught the token after its own; the training loss falls to 0.003 while validation "
         "token accuracy is 0.37 / 0.25 / 0.24 after 100 / 200 / 800 steps"),
    _bug("unzipword", "lstm_uniform_unit", "init", "saturated_units exploding_gradients vanishing_gradients bad_init_loss",
         "nn.init.uniform_(p, -1, 1) on every LSTM weight and bias (PyTorch's bound is 1/sqrt(hidden): 0.125 / "
         "0.088): recurrent gate blocks with singular values ~9 saturate the gates; validation token accuracy 0.53 / "
         "0.78 / 0.88 / 0.92 after 100 / 400 / 800 / 1200 steps (clean 0.74 / 0.98 / 0.999 / 1.0)",
         root="saturated_units exploding_gradients vanishing_gradients"),
    _bug("unzipword", "mask_after_softmax", "mask", "batch_dependence",
         "scores.softmax(-1).masked_fill(pad, 0) where masked_fill(pad, -inf).softmax(-1) was meant: the PAD keys "
         "still take their share of the softmax's sum, so a word's attention depends on how much padding its batch "
         "adds; validation token accuracy 0.73 / 0.86 / 0.947 after 100 / 200 / 400 steps (clean 0.74 / 0.92 / "
         "0.98)"),
    _bug("unzipword", "last_step_not_final_state", "structure", "batch_dependence",
         "h = c = enc[:, -1] (the padded output's last column) where the LSTM's final (h, c) were meant: for every "
         "word shorter than its batch's longest the decoder starts from the padding's zeros, so its output depends on "
         "its batch; validation token accuracy 0.984 / 0.990 / 0.997 after 400 / 800 / 1200 steps (clean 0.981 / "
         "0.999 / 1.0)"),

    _bug("twinletter", "truncated_to_8", "data", "labels_not_learnable",
         "tokens[:, :8] (a tokenizer's max_length 8) on sequences of up to 10 tokens: the last letters of the longest "
         "strings are cut, with them sometimes the twin's second copy, whose class the input then no longer shows; "
         "validation accuracy 0.86 / 0.91 / 0.90 after 100 / 400 / 800 steps (clean 0.96 / 1.0)"),
    _bug("twinletter", "key_mask_on_queries", "mask", "nonfinite batch_dependence",
         "pad[:, None, :, None] where pad[:, None, None, :] was meant: the mask blanks the PAD queries' rows "
         "(-inf everywhere: a NaN softmax) and leaves the PAD keys visible; loss NaN from the first padded batch, "
         "validation accuracy 0.095"),
    _bug("twinletter", "causal_mask_copied", "mask", "labels_not_learnable params_not_updating",
         "the key-padding mask OR-ed with a decoder's causal mask: CLS, at position 0, may read only itself in "
         "both blocks, so the head sees no letter; validation accuracy 0.095-0.10 through 800 steps"),
    _bug("twinletter", "qkv_normal_std1", "init",
         "bad_init_loss saturated_units exploding_gradients vanishing_gradients",
         "nn.init.normal_(qkv.weight, 0, 1) in both blocks (std 1 where ~1/sqrt(64) was meant, 14x PyTorch's "
         "default): attention scores of ~64 make every softmax one-hot; validation accuracy 0.32 / 0.41 / 0.47 after "
         "100 / 400 / 800 steps (clean 0.96 / 1.0)"),
    _bug("twinletter", "lr_0.03", "hyperparameter", "lr_too_high exploding_gradients nonfinite",
         "optim.lr=0.03 (for Adam at 0.001); plain loop: validation accuracy 0.25 / 0.29 / 0.33 after 100 / 400 / "
         "800 steps", overrides=["optim.lr=0.03"]),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
