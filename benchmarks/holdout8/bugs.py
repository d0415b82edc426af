"""The eighth held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source: new models and new
variations of the same kinds of mistakes. `named`/`root` use the public codes (VOCABULARY); a code that
describes a real consequence of the bug counts as named. Written before the suite was first run.
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("siamese", "xattn", "hetero", "ctc")

BUGS: tuple[Bug, ...] = (
    _bug("siamese", "second_image_shuffled", "data", "labels_not_learnable loss_floor",
         "the training pairs' second images permuted after the pairs were built, the same/different labels not",
         root="labels_not_learnable"),
    _bug("siamese", "scale_not_logged", "init", "bad_init_loss exploding_gradients loss_floor",
         "the log-scale parameter initialised with the scale itself (10), so the logits are exp(10) x cosine",
         root="bad_init_loss"),
    _bug("siamese", "normalised_over_batch", "structure", "batch_dependence bad_init_loss",
         "F.normalize(embedding, dim=0): each feature scaled over the batch instead of each embedding to unit length",
         root="batch_dependence"),
    _bug("siamese", "batch_1_lr_1", "hyperparameter",
         "lr_too_high nonfinite exploding_gradients loss_floor overfit_batch_size_1",
         "optim.batch_size=1 optim.lr=1 (for 32 and 0.003)", root="lr_too_high",
         overrides=["optim.batch_size=1", "optim.lr=1"]),

    _bug("xattn", "future_visible", "mask", "leakage",
         "the causal mask built with tril(-1) instead of triu(1): each target position sees itself and the future"),
    _bug("xattn", "pad_mask_inverted", "mask", "nonfinite",
         "src_pad = src != PAD (HF's 1 = real token) handed to PyTorch (True = ignore): a full-length source's "
         "attention rows are entirely masked, softmax of all -inf"),
    _bug("xattn", "positions_made_in_forward", "structure", "params_not_updating",
         "nn.Embedding for the positions created inside embed(): a new random table at every call, never trained"),
    _bug("xattn", "memory_mask_repeat", "structure", "batch_dependence",
         "the (B * heads, T, S) cross-attention mask built with .repeat(heads, 1, 1), not "
         ".repeat_interleave(heads, 0): "
         "example b's heads get other examples' padding masks"),

    _bug("hetero", "feature_in_millimetres", "data", "input_scale bad_init_loss exploding_gradients nonfinite",
         "one of the four inputs in millimetres (+-2000), the others in metres", root="input_scale bad_init_loss"),
    _bug("hetero", "variance_relu", "layer", "nonfinite log_of_zero division_by_zero",
         "the variance taken as relu(head) instead of exp(head): log(0) and a division by 0 wherever the ReLU is off"),
    _bug("hetero", "features_detached", "structure", "params_not_updating",
         "h.detach() on the shared features (meant for the variance head only): the body never trains"),
    _bug("hetero", "precision_sign", "loss", "loss_unbounded",
         "(y - mean)^2 * var instead of / var in the NLL: the loss rewards a vanishing variance"),

    _bug("ctc", "targets_from_val_split", "data", "labels_not_learnable loss_floor",
         "the training transcripts (targets, target lengths) generated from the validation split's seed",
         root="labels_not_learnable"),
    _bug("ctc", "log_softmax_over_time", "loss", "batch_dependence loss_floor",
         "log_softmax(dim=1) on (B, T, C): normalised over time (and the batch's padding), not over the classes",
         root="batch_dependence"),
    _bug("ctc", "frame_norm_no_eps", "layer", "nonfinite division_by_zero batch_dependence",
         "each frame divided by its norm without eps: a zero padding frame gives 0 / 0",
         root="nonfinite division_by_zero"),
    _bug("ctc", "conv_zero_init", "init", "params_not_updating dead_units vanishing_gradients",
         "the stride-2 conv's weight and bias initialised to zero: its ReLU outputs 0, so it gets no gradient",
         root="params_not_updating dead_units"),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
