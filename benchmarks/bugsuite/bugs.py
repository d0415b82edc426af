"""The suite's bugs and what counts as naming each one.

`named`: diagnostic codes (warning or error) that describe the bug; `root`: the codes that, as the
first warning/error of the run, put the user on the root cause. A hyperparameter bug is a clean
model run with `overrides`. Codes are docs/diagnostics.md's public names (VOCABULARY).
"""
from __future__ import annotations

from dataclasses import dataclass

VOCABULARY = frozenset({
    "lr_too_high", "lr_probe", "nonfinite", "unstable_softmax", "division_by_zero", "log_of_zero",
    "exploding_gradients", "vanishing_gradients", "dead_units", "saturated_units", "input_scale",
    "bad_init_loss", "params_not_updating", "batch_dependence", "labels_not_learnable",
    "overfit_batch_size_1", "lr_too_low", "warm_start_partial", "leakage", "trivial_labels", "loss_floor",
    "loss_unbounded", "check_skipped", "task_error", "loss_mismatch", "symmetric_units",
    "random_eval"})
FAMILIES = ("mlp", "cnn", "seq2seq", "lm")


@dataclass(frozen=True)
class Bug:
    family: str
    name: str
    kind: str                 # data, loss, init, layer, structure or hyperparameter
    named: frozenset[str]     # any of these (warning/error) names the bug
    root: frozenset[str]      # the first warning/error should be one of these
    what: str                 # the one-line change, in words
    overrides: tuple[str, ...] = ()  # command-line overrides (hyperparameter bugs); task.bug stays none

    @property
    def id(self) -> str:
        return f"{self.family}/{self.name}"

    @property
    def task_bug(self) -> str:
        return "none" if self.overrides else self.name


def _bug(family, name, kind, named, what, root=None, overrides=()):
    named = frozenset(named.split())
    return Bug(family, name, kind, named, frozenset(root.split()) if root else named, what, tuple(overrides))


BUGS: tuple[Bug, ...] = (
    _bug("mlp", "shuffled_labels", "data", "labels_not_learnable", "labels permuted against the images"),
    _bug("mlp", "unscaled_inputs", "data", "input_scale", "raw 0..255 pixels, no standardisation"),
    _bug("mlp", "label_in_inputs", "data", "leakage trivial_labels", "the one-hot label appended to the features"),
    _bug("mlp", "softmax_batch_dim", "loss", "batch_dependence", "log_softmax over dim 0 (the batch) in the loss"),
    _bug("mlp", "weights_x100", "init", "bad_init_loss saturated_units", "both weight matrices x100 after init",
         root="bad_init_loss"),
    _bug("mlp", "dead_relu", "init", "dead_units params_not_updating", "hidden bias initialised to -10"),
    _bug("mlp", "lr_50", "hyperparameter", "lr_too_high", "optim.lr=50", overrides=["optim.lr=50"]),

    _bug("cnn", "constant_labels", "data", "trivial_labels labels_not_learnable", "every label is 0"),
    _bug("cnn", "frozen_conv", "structure", "params_not_updating", "conv1.requires_grad_(False)"),
    _bug("cnn", "nan_init", "init", "nonfinite bad_init_loss", "one weight of the head is NaN"),
    _bug("cnn", "batch_mixing_reshape", "structure", "batch_dependence",
         "h.transpose(0, 1).reshape(B, -1) instead of h.flatten(1)"),
    _bug("cnn", "batch_stats_in_eval", "structure", "batch_dependence", "batch norm always uses batch statistics"),
    _bug("cnn", "loss_over_batch_squared", "loss", "batch_dependence lr_too_low", "summed loss / B**2",
         root="batch_dependence"),

    _bug("seq2seq", "detached_encoder", "structure", "params_not_updating", "encoder state .detach()ed"),
    _bug("seq2seq", "large_init_rnn", "init", "exploding_gradients saturated_units bad_init_loss",
         "decoder GRU weights uniform(-2, 2), no clipping"),  # bad_init_loss: its weights ~20x the default std, as
    # weights_x100 and head_x100 accept (added in session 31, once the weights were judged at a converged stage's end)
    _bug("seq2seq", "norm_without_eps", "layer", "division_by_zero",
         "embedding / its norm, without eps (the PAD row is zero)"),
    _bug("seq2seq", "misaligned_pairs", "data", "labels_not_learnable", "sources rolled by one against targets"),
    _bug("seq2seq", "lr_10", "hyperparameter", "lr_too_high", "optim.lr=10", overrides=["optim.lr=10"]),

    _bug("lm", "mask_off_by_one", "structure", "leakage", "causal mask triu(diagonal=2): sees the next token"),
    _bug("lm", "naive_softmax", "layer", "unstable_softmax", "exp(s) / exp(s).sum() under a -inf mask"),
    _bug("lm", "head_x100", "init", "bad_init_loss saturated_units", "output layer weights x100",
         root="bad_init_loss"),
    _bug("lm", "frozen_embedding", "structure", "params_not_updating", "token embedding requires_grad_(False)"),
    _bug("lm", "norm_over_batch", "structure", "batch_dependence", "hand-written layer norm over dim 0"),
    _bug("lm", "lr_1e-7", "hyperparameter", "lr_too_low", "optim.lr=1e-7", overrides=["optim.lr=1e-7"]),
)


def find(ids: list[str] | None = None, family: str | None = None, bugs: tuple[Bug, ...] = BUGS) -> list[Bug]:
    """Bugs of `bugs` by id ("cnn/frozen_conv") or bare name, optionally of one family; unknown ids raise one
    line."""
    chosen = [b for b in bugs if family is None or b.family == family]
    if not ids:
        return chosen
    out = []
    for i in ids:
        hits = [b for b in chosen if i in (b.id, b.name)]
        if not hits:
            raise SystemExit(f"error: unknown bug {i!r}; known: {', '.join(b.id for b in chosen)}")
        out += hits
    return out
