"""The seventh held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source: new models and new
variations of the same kinds of mistakes. `named`/`root` use the public codes (VOCABULARY); a code that
describes a real consequence of the bug counts as named. Written before the suite was first run.
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("gnn", "cellrnn", "unet", "bagtext")

BUGS: tuple[Bug, ...] = (
    _bug("gnn", "graphs_shuffled_alone", "data", "labels_not_learnable loss_floor",
         "the training graphs (adj, mask, noise) permuted, their labels not: every graph gets another's label",
         root="labels_not_learnable"),
    _bug("gnn", "no_self_loops", "layer", "nonfinite division_by_zero",
         "D^-1/2 A D^-1/2 without the + I: a padded node has degree 0, 0 ** -0.5 = inf, inf * 0 = NaN"),
    _bug("gnn", "degree_over_batch_max", "structure", "batch_dependence",
         "the degree feature divided by degree.max() (the whole batch's), not each graph's own largest degree"),
    _bug("gnn", "lr_30", "hyperparameter", "lr_too_high nonfinite exploding_gradients loss_floor",
         "optim.lr=30 (for 0.003)", root="lr_too_high", overrides=["optim.lr=30"]),

    _bug("cellrnn", "label_before_truncation", "data", "labels_not_learnable loss_floor",
         "the label (which symbol is more frequent) counted over the full 24 generated tokens, the model sees "
         "only the first `length`", root="labels_not_learnable"),
    _bug("cellrnn", "cell_in_forward", "structure", "params_not_updating",
         "the nn.GRUCell created inside forward(): fresh random weights every call, never optimised"),
    _bug("cellrnn", "embedding_std_100", "init", "saturated_units vanishing_gradients",
         "nn.init.normal_(embedding, std=100): the GRU's gates saturate from the first step"),
    _bug("cellrnn", "lr_1e-5", "hyperparameter", "lr_too_low params_not_updating",
         "optim.lr=1e-5 (for 0.003)", root="lr_too_low", overrides=["optim.lr=1e-5"]),

    _bug("unet", "flip_image_only", "data", "labels_not_learnable loss_floor",
         "a random horizontal flip augmentation applied to the image, not to its mask", root="labels_not_learnable"),
    _bug("unet", "skip_l2_norm_no_eps", "layer", "nonfinite division_by_zero",
         "skip features / their channel norm without eps: a pixel whose ReLU channels are all 0 gives 0 / 0"),
    _bug("unet", "standardise_over_batch", "structure", "batch_dependence",
         "the input standardised in forward() with x.mean(0) / x.std(0): statistics of the batch, per pixel"),
    _bug("unet", "batch_1_lr_0.5", "hyperparameter",
         "lr_too_high nonfinite exploding_gradients loss_floor overfit_batch_size_1",
         "optim.batch_size=1 optim.lr=0.5 (for 32 and 0.003)", root="lr_too_high",
         overrides=["optim.batch_size=1", "optim.lr=0.5"]),

    _bug("bagtext", "offsets_from_sorted_lengths", "data", "labels_not_learnable loss_floor batch_dependence",
         "offsets from the batch's lengths sorted (\"for speed\"), the tokens in the batch's order: a bag spans "
         "pieces of other documents of the batch", root="labels_not_learnable batch_dependence"),
    _bug("bagtext", "nll_on_logits", "loss", "loss_unbounded nonfinite exploding_gradients",
         "F.nll_loss(logits, label) without log_softmax: -logit[label] is unbounded below",
         root="loss_unbounded"),
    _bug("bagtext", "embedding_frozen", "structure", "params_not_updating",
         "emb.weight.requires_grad_(False) left from a pretrained-embedding script, on a random embedding"),
    _bug("bagtext", "raw_length_feature", "data", "input_scale bad_init_loss exploding_gradients",
         "the document length appended as a raw count (up to 60), not over the longest length",
         root="input_scale"),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
