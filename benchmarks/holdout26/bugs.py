"""The twenty-sixth held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source or tests: new models and new
variations of the same kinds of mistakes. `named`/`root` use the public codes (VOCABULARY); a code that
describes a real consequence of the bug counts as named. Written and committed before the suite was first run on a
bug; the consequences in `what` were measured in plain PyTorch (the family's optimiser and LR: Adam at 0.003 for
credit, spellnum and memberlm, SGD with momentum 0.9 at 0.02 for pairsum; batch 32, seed 0, 300 steps on the full
training set, 1200 for pairsum) against the clean model (credit validation accuracy 0.928 at 300 steps; pairsum 0.937
at 1200; spellnum token accuracy 0.997 at 300; memberlm 0.977 at 300).
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("credit", "pairsum", "spellnum", "memberlm")

BUGS: tuple[Bug, ...] = (
    _bug("credit", "val_columns_swapped", "data", "labels_not_learnable",
         "the validation table built with its columns in another order (debt first, income third; the training "
         "table as documented): a split built differently; validation accuracy 0.17, loss 8.2 after 300 steps while "
         "training accuracy is 0.96"),
    _bug("credit", "global_std_scaling", "data", "input_scale",
         "the features divided by one std over the whole table (x.std()) instead of per column: income and debt keep "
         "a std near 1, utilisation 0.008, the rest between; features on mixed scales; validation accuracy 0.87 after "
         "300 steps (clean 0.93)"),
    _bug("credit", "temperature_zero_init", "init", "nonfinite division_by_zero",
         "the learnt temperature the logits are divided by initialised with torch.zeros(1) instead of torch.ones(1): "
         "logits / 0 = inf, the loss is NaN at the first forward and stays NaN"),
    _bug("credit", "outputs_unpacked_swapped", "loss", "params_not_updating loss_mismatch",
         "the model returns (logits, features) and the loss unpacks `features, logits = model(x)`: cross-entropy on "
         "the 64 hidden features, the head and the temperature get no gradient; the optimised loss falls to 0.17 "
         "while the task's training loss rises 1.1 -> 1.75 and accuracy stays at 0.32 (chance) after 300 steps"),
    _bug("credit", "bn_no_running_stats", "structure", "batch_dependence",
         "BatchNorm1d(64, track_running_stats=False): the batch's own statistics in evaluation too, each prediction "
         "depends on its batch-mates; trains about as the clean model (validation 0.925 after 300 steps): silently "
         "wrong"),

    _bug("pairsum", "labels_from_unshuffled", "data", "labels_not_learnable",
         "the digit images shuffled before the split but the labels taken in file order (labels instead of "
         "labels[order]): each pair's sum belongs to two other images; validation accuracy 0.07 after 1200 steps "
         "(clean 0.937)"),
    _bug("pairsum", "loss_summed", "loss", "bad_init_loss lr_too_high nonfinite exploding_gradients",
         "cross_entropy(..., reduction='sum') under SGD with momentum: steps 32x larger; first loss 94 (chance log 19 "
         "= 2.94 per example); the net blows up and dies in the first steps, training accuracy 0.09 after 1200 steps",
         root="bad_init_loss"),
    _bug("pairsum", "conv1_zero_init", "init", "params_not_updating dead_units vanishing_gradients",
         "the first convolution's weight and bias zeroed (nn.init.zeros_ over conv1.parameters()): its output is 0, "
         "the ReLU's gradient at 0 is 0, conv1 never gets a gradient and conv2 sees zeros; the output is constant, "
         "training accuracy 0.10 after 1200 steps", root="params_not_updating"),
    _bug("pairsum", "dropout_always_on", "structure", "random_eval",
         "F.dropout(h, 0.1) without training=self.training: dropout stays on in evaluation, the validation metrics "
         "are noisy (0.914 after 1200 steps, clean 0.937)"),
    _bug("pairsum", "lr_1e-5", "hyperparameter", "lr_too_low",
         "optim.lr=1e-5 (for SGD with momentum at 0.02): loss 2.95 -> 2.94 in 1200 steps", overrides=["optim.lr=1e-5"]),

    _bug("spellnum", "tgt_in_not_shifted", "data", "leakage",
         "the batch function writes the target itself as the decoder input (tgt_in = t instead of [BOS] + t[:-1]): "
         "each step reads the word it must predict; teacher-forced token accuracy 1.0 (train and validation) after "
         "150 steps, a model that cannot spell anything on its own"),
    _bug("spellnum", "loss_on_decoder_input", "loss", "loss_mismatch",
         "the loss compares the logits with tgt_in instead of tgt: the model learns to repeat its input word; the "
         "optimised loss falls to 0.001 while the task's token loss rises 3.5 -> 11.6 and accuracy is 0.0 after 300 "
         "steps"),
    _bug("spellnum", "embeddings_in_dict", "structure", "params_not_updating",
         "the two embeddings kept in a plain dict instead of nn.ModuleDict: not registered, never in the optimiser, "
         "frozen at their random init; the LSTMs learn around them (validation 0.999 after 300 steps): silently "
         "untrained"),
    _bug("spellnum", "normal_init_everything", "init", "bad_init_loss saturated_units exploding_gradients "
         "vanishing_gradients",
         "every parameter drawn from N(0, 1) (`for p in self.parameters(): nn.init.normal_(p)`): LSTM weights 20x "
         "their default, the output layer 28x; first loss 13.9 (chance log 33 = 3.5); validation token accuracy 0.41 "
         "after 300 steps", root="bad_init_loss saturated_units"),
    _bug("spellnum", "pad_mask_inverted", "mask", "nonfinite unstable_softmax division_by_zero",
         "the attention's padding mask written src != PAD instead of src == PAD: the real keys are masked, a source "
         "without padding has every key at -inf and its softmax row is NaN; NaN at the first forward"),

    _bug("memberlm", "norm_over_time", "layer", "leakage batch_dependence",
         "the written-out LayerNorm takes its mean and variance over dim 1 (the positions) instead of -1: each "
         "position is normalised with statistics of later positions, the answers and the padding among them; "
         "validation accuracy 0.89 after 300 steps (clean 0.977)"),
    _bug("memberlm", "masks_combined_with_or", "mask", "leakage",
         "the causal and padding masks combined with | instead of &: every query reads every real token, the answer "
         "after it too; validation accuracy 0.89 after 300 steps"),
    _bug("memberlm", "additive_mask_times_inf", "mask", "nonfinite",
         "the mask added as scores + (~allowed).float() * float('-inf'): 0 x -inf is NaN at every allowed position; "
         "NaN at the first forward"),
    _bug("memberlm", "embedding_through_data", "structure", "params_not_updating",
         "the token embedding read as F.embedding(x, self.tok.weight.data): the table gets no gradient and stays at "
         "N(0, 0.02), below the position embeddings' scale; validation accuracy 0.51 after 300 steps (chance 0.5)"),
    _bug("memberlm", "lr_0.1", "hyperparameter", "lr_too_high nonfinite exploding_gradients",
         "optim.lr=0.1 (for Adam at 0.003): no NaN, the model sits at chance (accuracy 0.49-0.51 after 300 steps)",
         root="lr_too_high", overrides=["optim.lr=0.1"]),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
