"""The fourth held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source: new models and new
variations of the same kinds of mistakes. `named`/`root` use the public codes (VOCABULARY); a code that
describes a real consequence of the bug counts as named.
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("tab", "ae", "lstmlm", "vit")

BUGS: tuple[Bug, ...] = (
    _bug("tab", "labels_rolled", "data", "labels_not_learnable loss_floor",
         "torch.roll(y_train, 1): each row gets its neighbour's label (an off-by-one join)",
         root="labels_not_learnable"),
    _bug("tab", "income_raw", "data", "input_scale", "one numeric column of 5 in dollars (50000 + 20000 z)"),
    _bug("tab", "emb_frozen", "structure", "params_not_updating",
         "self.embs.requires_grad_(False): the 3 categorical embeddings never train"),
    _bug("tab", "features_normalised_over_batch", "structure", "batch_dependence",
         "forward scales the numeric columns with F.normalize(nums, dim=0): over the batch, not per row"),

    _bug("ae", "pixels_raw", "data", "input_scale bad_init_loss", "pixels x 255 (inputs and targets)",
         root="input_scale"),
    _bug("ae", "latent_init_huge", "init", "saturated_units vanishing_gradients bad_init_loss",
         "the tanh bottleneck's Linear initialised N(0, 10^2)", root="saturated_units"),
    _bug("ae", "batch_mean_image", "structure", "batch_dependence",
         "forward subtracts the batch's mean image, x - x.mean(0)"),
    _bug("ae", "head_built_in_forward", "structure", "params_not_updating loss_floor",
         "the output conv built inside forward: a fresh random layer each call, never in the optimiser",
         root="params_not_updating"),

    _bug("lstmlm", "target_not_shifted", "data", "leakage trivial_labels",
         "targets seq[:, :-1] (the inputs themselves) instead of seq[:, 1:]", root="leakage"),
    _bug("lstmlm", "bidirectional", "structure", "leakage",
         "nn.LSTM(bidirectional=True) in a language model: the backward half reads the next tokens"),
    # loss_mismatch: the code that names a normalisation over the wrong dimension since session 22 (readout.py)
    _bug("lstmlm", "log_softmax_over_time", "loss", "loss_floor bad_init_loss labels_not_learnable loss_mismatch",
         "logits.log_softmax(1) on (B, T, V): normalised over positions, not the vocabulary",
         root="loss_floor bad_init_loss loss_mismatch"),
    _bug("lstmlm", "lr_1", "hyperparameter", "lr_too_high nonfinite exploding_gradients loss_floor",
         "optim.lr=1 (for 0.01)", root="lr_too_high", overrides=["optim.lr=1"]),

    _bug("vit", "norm_without_eps", "layer", "nonfinite division_by_zero",
         "hand LayerNorm (x - mu) / sqrt(var) without eps: the zero-initialised CLS token has var 0 -> 0/0",
         root="nonfinite division_by_zero"),
    _bug("vit", "labels_from_the_end", "data", "labels_not_learnable loss_floor",
         "y_train = y[-n:] with x_train = x[:n]: labels of other images", root="labels_not_learnable"),
    _bug("vit", "attention_seq_first", "structure", "batch_dependence",
         "nn.MultiheadAttention without batch_first=True: attention across the batch's images"),
    _bug("vit", "lr_1e-6", "hyperparameter", "lr_too_low params_not_updating",
         "optim.lr=1e-6 (for 0.003)", root="lr_too_low", overrides=["optim.lr=1e-6"]),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
