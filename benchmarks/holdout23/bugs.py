"""The twenty-third held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source or tests: new models and new
variations of the same kinds of mistakes. `named`/`root` use the public codes (VOCABULARY); a code that
describes a real consequence of the bug counts as named. Written before the suite was first run on a bug; the
consequences in `what` were measured in plain PyTorch (Adam at the family's LR: 0.01 for adder, 0.003 for the
others; batch 32, seed 0) against the clean model.
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("fmclick", "filmcnn", "adder", "bandtag")

BUGS: tuple[Bug, ...] = (
    _bug("fmclick", "pad_ids_pooled", "mask", "batch_dependence",
         "the pooling's padding mask written ids >= PAD (always true): the PAD embedding is averaged into every field "
         "and the count is the batch's list width, so an example's logit depends on its batch's longest list (alone "
         "vs in a batch of 8: up to 1.1 relative at init); validation accuracy 0.83 after 600 steps (clean 0.92 after "
         "500), 100 examples at training accuracy 0.99 after 600"),
    _bug("fmclick", "val_clicks_inverted", "data", "labels_not_learnable",
         "the validation split's click column read inverted (1 - y): training is clean (accuracy 0.92 after 600 steps "
         "on 3000) while validation accuracy falls to 0.08-0.13 (0.29-0.37 on 10 and 100 examples)"),
    _bug("fmclick", "sigmoid_as_logit", "loss", "loss_floor loss_mismatch",
         "the model's sigmoid probabilities fed to binary_cross_entropy_with_logits: the optimised loss cannot go "
         "below ~0.5 (it sits at 0.58 on 10 examples after 600 steps, chance 0.69) and its gradient vanishes as "
         "the logits grow; the real BCE rises (100 examples: 0.67 -> 1.08 from step 300 to 600, training accuracy "
         "stuck at 0.93); 3000 reach validation accuracy 0.82 after 600 steps (clean 0.92)"),
    _bug("fmclick", "emb_std_10", "init", "bad_init_loss",
         "the factor table drawn with std 10 instead of 0.3: the FM pairwise term is in the hundreds, first loss 131 "
         "(chance 0.69); 100 examples at training accuracy 0.80 and 3000 at validation accuracy 0.70 after 600 steps "
         "(clean 1.0 and 0.92)"),

    _bug("filmcnn", "film_generators_in_list", "structure", "params_not_updating",
         "the two FiLM generators kept in a plain Python list instead of nn.ModuleList: not the model's parameters, so "
         "the optimizer never sees them and they stay at their random init (the question embedding still trains "
         "through them); 100 examples reach validation accuracy 0.79 after 300 steps (clean 0.96); 3000 train about "
         "as clean (0.96 after 300 steps): the conditioning weights are silently never trained"),
    _bug("filmcnn", "val_channels_bgr", "data", "labels_not_learnable",
         "the validation images loaded with their channels reversed (BGR): red and blue swap, yellow turns cyan, so a "
         "question about a colour counts another colour's squares; training accuracy 0.99 after 500 steps on 3000, "
         "validation 0.29-0.30 at every size (clean 0.99)"),
    _bug("filmcnn", "questions_permuted_in_train", "data", "labels_not_learnable",
         "the training questions shuffled apart from their images and answers (a separate permutation of one array): "
         "10 are memorised, 100 reach training accuracy 0.83 after 500 steps, 3000 stay at training 0.38 / "
         "validation 0.33 (chance 0.25; clean 0.99)"),
    _bug("filmcnn", "exp_lr_per_step", "hyperparameter", "lr_too_low",
         "ExponentialLR(gamma=0.95) meant per epoch, stepped per iteration: the LR is 1.8e-5 after 100 steps and 6e-10 "
         "after 300; after 300 steps 10 images stop at training accuracy 0.8, 100 at 0.44, 3000 at validation 0.40 "
         "(clean: 1.0, 1.0, 0.98)",
         overrides=["optim.scheduler._target_=torch.optim.lr_scheduler.ExponentialLR",
                    "+optim.scheduler.args.gamma=0.95"]),

    _bug("adder", "pad_mask_added_as_bool", "mask", "batch_dependence",
         "the boolean source padding mask added to the attention scores (+1 on the padding) instead of masked_fill "
         "-inf: padding positions are attended, so a problem's output depends on how wide its batch is (alone vs in "
         "a batch of 8: 0.053 relative on the one shorter example of the first 8); validation token accuracy 0.956 "
         "after 600 steps (clean ~0.95-0.97 between 500 and 800): silently wrong rather than failing"),
    _bug("adder", "targets_flattened_time_major", "loss", "labels_not_learnable loss_mismatch",
         "the targets flattened time-major (tgt.t().flatten()) against batch-major flattened logits: each position "
         "is scored against another problem's digit (a single example is unaffected); 10 examples stay at training "
         "token accuracy 0.29-0.31, 100 and 3000 at 0.29 (the loss 2.52 -> 2.14, chance 2.40)"),
    _bug("adder", "val_answers_rolled", "data", "labels_not_learnable",
         "each validation problem paired with the next one's answer: training accuracy 0.95 after 600 steps on 3000, "
         "validation token accuracy 0.36 (exact 0.00; clean ~0.96)"),
    _bug("adder", "decoder_lstm_uniform_3", "init", "bad_init_loss saturated_units",
         "the decoder LSTM's weights and biases drawn uniform(-3, 3) (std 1.7, 24x PyTorch's 1/sqrt(3 hidden)): gates "
         "and states saturate; the first loss is normal (2.53, chance 2.40), 10 and 100 are memorised, 3000 reach "
         "validation token accuracy 0.87 after 600 steps (clean ~0.96)"),

    _bug("bandtag", "band_mask_inverted", "mask", "batch_dependence",
         "masked_fill(allowed, -inf) instead of masked_fill(~allowed, -inf): each token sees every key but its band "
         "(and the padding), so its own neighbours are hidden and padding is attended (alone vs in a batch of 8: "
         "0.01-0.18 relative); 10 and 100 are memorised (validation 0.58 / 0.56), 3000 reach validation token "
         "accuracy 0.70 after 600 steps (clean 0.9997)"),
    _bug("bandtag", "heads_merged_without_transpose", "structure", "batch_dependence",
         "the heads' outputs (B, H, L, dh) reshaped straight to (B, L, D) without transpose(1, 2): each position "
         "receives slices of other positions' (and the padding's) head outputs, so outputs depend on the batch width "
         "(alone vs in a batch: 0.19-0.29 relative); 10 and 100 are memorised, 3000 reach validation token accuracy "
         "0.69 after 600 steps (clean 0.9997)"),
    _bug("bandtag", "token_emb_std_30", "init", "bad_init_loss",
         "the token embedding drawn with std 30 (30x nn.Embedding's default, beside position embeddings of std 1): the "
         "pre-LN blocks hide it from the first loss (0.75, chance 0.69) but the positions drown in the residual "
         "stream; 3000 plateau at validation token accuracy 0.98 after 300-600 steps (clean 0.996 after 300, "
         "0.9997 after 600)"),
    _bug("bandtag", "adam_lr_2", "hyperparameter", "lr_too_high exploding_gradients nonfinite",
         "Adam at LR 2: after 300 steps 10 sequences at training token accuracy 0.74, 100 and 3000 at the majority "
         "class (0.62-0.63, loss 0.67 vs chance 0.69)",
         root="lr_too_high", overrides=["optim.lr=2"]),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
