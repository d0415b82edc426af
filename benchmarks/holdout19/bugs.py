"""The nineteenth held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source: new models and new
variations of the same kinds of mistakes. `named`/`root` use the public codes (VOCABULARY); a code that
describes a real consequence of the bug counts as named. Written before the suite was first run on a bug.
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("entemb", "countcnn", "datefmt", "sortlm")

BUGS: tuple[Bug, ...] = (
    _bug("entemb", "numbers_not_divided", "data", "input_scale bad_init_loss",
         "the numeric columns centred with the training mean but not divided by their std: an income of std "
         "~15,000 beside a ratio of std 0.014 (the first loss ~6,300 for chance 1.1)", root="input_scale"),
    _bug("entemb", "target_rolled", "loss", "loss_mismatch",
         "the loss's targets written (y + 1) % 3 (a 1-based class id converted twice): the loss trains each row "
         "toward the next class, so it falls while the metrics' accuracy on the true classes drops toward 0"),
    _bug("entemb", "hidden_zero_init", "init", "params_not_updating dead_units",
         "nn.init.zeros_(fc1.weight) beside the zero bias (zeros_ meant for the bias only): the first layer "
         "outputs exactly 0, ReLU'(0) = 0, so it, the embeddings and fc2's weight get no gradient ever; the "
         "output is one constant", root="params_not_updating"),
    _bug("entemb", "embeddings_from_pretrained", "structure", "params_not_updating",
         "the embedding tables built nn.Embedding.from_pretrained(torch.randn(card, dim)), whose freeze=True "
         "default leaves them random and frozen (a frozen part, 389 of 11,656 weights)"),

    _bug("countcnn", "labels_sorted", "data", "labels_not_learnable",
         "the training labels replaced by counts.sort().values against the unsorted images: the first 10 (and "
         "first ~400) rows all carry class 0, the rest are paired with other images' counts"),
    _bug("countcnn", "bn_weight_zero", "init", "params_not_updating dead_units",
         "nn.init.zeros_ on every BatchNorm's weight (the zero-gamma trick meant for a residual branch's last "
         "norm, applied to a plain stack): the normalised activations are 0, ReLU'(0) = 0, the two first convs "
         "and both norms get no gradient, the pooled features are a constant", root="params_not_updating"),
    _bug("countcnn", "stem_no_grad", "structure", "params_not_updating",
         "the stem (conv + BatchNorm) run inside `with torch.no_grad()`: its weights are used but get no "
         "gradient (the rest trains on its random features)"),
    _bug("countcnn", "lr_3e-6", "hyperparameter", "lr_too_low", "optim.lr=3e-6 (1000x below Adam's 0.003)",
         overrides=["optim.lr=3e-6"]),

    _bug("datefmt", "pad_mask_inverted", "mask", "nonfinite batch_dependence",
         "the attention mask built src != PAD for src == PAD: the real positions masked with -inf, so an "
         "unpadded source (the longest of every batch, every example alone) has a fully masked row: NaN from the "
         "first forward; a padded one attends to its padding only"),
    _bug("datefmt", "loss_on_decoder_input", "loss", "loss_mismatch",
         "cross-entropy against tgt_in (each step's own input token) instead of tgt: the decoder learns to echo "
         "its input, the loss falls to ~0 while the metrics' next-character accuracy falls to ~0.04"),
    _bug("datefmt", "attention_softmax_over_batch", "layer", "batch_dependence",
         "the additive attention's weights softmax(0) (over the batch) instead of softmax(-1) over the source "
         "positions: each example's context depends on its batch-mates' scores"),
    _bug("datefmt", "lr_2", "hyperparameter", "lr_too_high nonfinite exploding_gradients",
         "optim.lr=2 (~670x Adam's 0.003) on the LSTM encoder-decoder", root="lr_too_high",
         overrides=["optim.lr=2"]),

    _bug("sortlm", "mask_and_for_or", "mask", "leakage batch_dependence",
         "the blocked mask written causal & key_padding instead of causal | key_padding: with left padding no "
         "future key is padding, so nothing is blocked: every position sees the later tokens and the padding",
         root="leakage"),
    _bug("sortlm", "heads_split_by_view", "layer", "leakage batch_dependence",
         "q, k and v split into heads by reshape(B, H, T, dh) instead of view(B, T, H, dh).transpose(1, 2): each "
         "head's rows mix features of several positions, later ones included, and the split depends on the "
         "padded length", root="leakage"),
    _bug("sortlm", "embedding_std_1", "init", "bad_init_loss",
         "the tied embedding drawn N(0, 1) (PyTorch's nn.Embedding default) where N(0, 0.02^2) was meant: the "
         "logits of the tied head have std ~8, the first loss ~42 for chance 2.56, and the learned positions "
         "(std 0.02) are drowned"),
    _bug("sortlm", "labels_unshifted", "data", "leakage",
         "the labels sliced s[:-1] like the inputs instead of s[1:]: each position's label is its own input "
         "token, so the LM learns to copy (teacher-forced accuracy 1.0) and predicts nothing"),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
