"""The fifteenth held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source: new models and new
variations of the same kinds of mistakes. `named`/`root` use the public codes (VOCABULARY); a code that
describes a real consequence of the bug counts as named. Written before the suite was first run.
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("moe", "simclr", "han", "prefixlm")

BUGS: tuple[Bug, ...] = (
    _bug("moe", "mixture_probs_as_logits", "loss", "loss_floor lr_too_low",
         "the model returns the gate-weighted mixture of the experts' probabilities instead of its log, and "
         "cross_entropy softmaxes them again: probabilities in [0, 1] as logits, the loss cannot fall far below "
         "log(4) however right the argmax is", root="loss_floor"),
    _bug("moe", "income_in_dollars", "data",
         "input_scale bad_init_loss lr_too_high exploding_gradients nonfinite log_of_zero",
         "the income column left out of the standardisation (mean 0, std 1 put in its place): one feature of "
         "~50,000 +- 15,000 beside eleven unit-scale ones (the gate's softmax then gives its second choice a weight of "
         "exactly 0, whose log is -inf in the routing-entropy term)", root="input_scale bad_init_loss"),
    _bug("moe", "entropy_of_dense_weights", "nan", "nonfinite log_of_zero",
         "the routing-entropy term computed on the dense (B, 6) routing weights instead of the chosen two: "
         "0 * log 0 = NaN for the four experts off each example's top 2, at the first step"),
    _bug("moe", "experts_in_list", "structure", "params_not_updating",
         "the experts kept in a plain Python list instead of an nn.ModuleList: their weights are not the "
         "model's parameters, nothing trains them (and a new stage draws new ones)"),

    _bug("simclr", "normalised_over_batch", "structure", "batch_dependence",
         "F.normalize(z, dim=0) instead of dim=1: each embedding dimension is normalised over the batch, so an "
         "image's embedding depends on its batch-mates, in evaluation too"),
    _bug("simclr", "projection_not_normalised", "nan", "unstable_softmax nonfinite",
         "the projection's output not L2-normalised: the written-out NT-Xent exponentiates dot products / 0.2 "
         "that grow without bound as training pushes positives together; exp overflows (inf * 0 on the zeroed "
         "self-pairs, inf / inf)", root="unstable_softmax nonfinite"),
    _bug("simclr", "features_detached", "structure", "params_not_updating",
         "h.detach() left from the linear-probe code: the encoder gets no gradient, only the projection head "
         "trains"),
    _bug("simclr", "lr_1e-6", "hyperparameter", "lr_too_low",
         "optim.lr=1e-6 (for Adam at 0.002)", overrides=["optim.lr=1e-6"]),

    _bug("han", "sentence_padding_unmasked", "mask", "batch_dependence",
         "the sentence-level attention's mask replaced by ones: the padding sentences (as many as the batch's "
         "longest document adds) are attended to, a document's output depends on its batch-mates"),
    _bug("han", "attention_sum_no_eps", "nan", "nonfinite division_by_zero batch_dependence",
         "the written-out masked softmax divides by the masked sum without its epsilon: a padding sentence (all "
         "its words masked) gets 0 / 0 = NaN weights, which reach every document of a batch with padding",
         root="nonfinite division_by_zero"),
    _bug("han", "val_labels_from_train", "data", "labels_not_learnable",
         "the validation documents paired with the first 500 training labels: training fits, validation stays at "
         "chance"),
    _bug("han", "bs1_lr_1", "hyperparameter", "lr_too_high nonfinite exploding_gradients",
         "optim.batch_size=1 optim.lr=1 (for 32 and Adam at 0.003)", root="lr_too_high",
         overrides=["optim.batch_size=1", "optim.lr=1"]),

    _bug("prefixlm", "causal_triangle_flipped", "mask", "leakage labels_not_learnable",
         "the causal part of the prefix-LM mask written j >= i instead of j <= i: each continuation position "
         "sees the later tokens (its own target next) and not the earlier ones; teacher-forced accuracy is "
         "perfect, greedy decoding (no future to read) fails", root="leakage labels_not_learnable"),
    _bug("prefixlm", "qk_zero_init", "init", "params_not_updating",
         "the zero init meant for the attention's output projection put on the query and key rows of the fused "
         "q/k/v projection: q = k = 0, both get exactly zero gradient forever, attention stays uniform"),
    _bug("prefixlm", "continuation_of_previous", "data", "labels_not_learnable",
         "each continuation is the sorted prefix of the example before (an off-by-one index): targets that do "
         "not follow from the prefix, in both splits"),
    _bug("prefixlm", "lr_2", "hyperparameter", "lr_too_high nonfinite exploding_gradients",
         "optim.lr=2 (for Adam at 0.001)", root="lr_too_high", overrides=["optim.lr=2"]),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
