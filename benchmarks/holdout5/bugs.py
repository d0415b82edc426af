"""The fifth held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source: new models and new
variations of the same kinds of mistakes. `named`/`root` use the public codes (VOCABULARY); a code that
describes a real consequence of the bug counts as named. Written before the suite was first run.
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("deepmlp", "sepcnn", "lstm2s", "mlm")

BUGS: tuple[Bug, ...] = (
    _bug("deepmlp", "sorted_by_radius", "data", "labels_not_learnable loss_floor",
         "x_train sorted by radius (a 'curriculum'), y_train left in its order: labels of other points",
         root="labels_not_learnable"),
    _bug("deepmlp", "canvas_pixels", "data", "input_scale bad_init_loss",
         "the (x, y) points as pixels of a 1000x1000 canvas, (x + 4) * 125, not centred or scaled",
         root="input_scale"),
    _bug("deepmlp", "bn_no_running_stats", "structure", "batch_dependence",
         "nn.BatchNorm1d(track_running_stats=False): eval mode normalises with the batch's statistics"),
    _bug("deepmlp", "lr_5", "hyperparameter", "lr_too_high nonfinite exploding_gradients loss_floor",
         "optim.lr=5 (for 0.003)", root="lr_too_high", overrides=["optim.lr=5"]),

    _bug("sepcnn", "separate_shuffles", "data", "labels_not_learnable loss_floor",
         "x and y shuffled together, then y shuffled again with its own randperm", root="labels_not_learnable"),
    _bug("sepcnn", "dw_detached", "structure", "params_not_updating",
         ".detach() on the stride-2 depthwise conv's output: the stem and the first block never train"),
    _bug("sepcnn", "conv_init_std1", "init", "bad_init_loss exploding_gradients nonfinite lr_too_high",
         "every conv weight N(0, 1) instead of a fan-in-scaled init (activations x ~10 per conv)",
         root="bad_init_loss"),
    _bug("sepcnn", "lr_2e-6", "hyperparameter", "lr_too_low params_not_updating",
         "optim.lr=2e-6 (for 0.003)", root="lr_too_low", overrides=["optim.lr=2e-6"]),

    _bug("lstm2s", "target_is_dec_in", "data", "leakage",
         "out = tgt[:, :-1], the same slice as dec_in: the decoder is asked for the token it is given"),
    _bug("lstm2s", "bridge_in_forward", "structure", "params_not_updating loss_floor",
         "the encoder-to-decoder bridge nn.Linear built inside forward: random each call, never trained",
         root="params_not_updating"),
    _bug("lstm2s", "emb_std_is_dim", "init", "saturated_units vanishing_gradients bad_init_loss",
         "source embedding initialised N(0, 32^2) (std=EMB for 1): the encoder LSTM's gates saturate",
         root="saturated_units"),
    _bug("lstm2s", "emb_unit_norm", "layer", "nonfinite division_by_zero",
         "embeddings divided by their norm (no eps): the PAD row is zero -> 0/0 at every padded position"),

    _bug("mlm", "targets_everywhere", "data", "leakage",
         "labels = every real token, not only the masked ones: 85% of the targets are visible in the input"),
    _bug("mlm", "pad_mask_on_queries", "structure", "nonfinite batch_dependence",
         "the padding mask expanded over the query axis (rows), not the key axis: padded rows all -inf, "
         "real queries attend to the padding"),
    _bug("mlm", "bottom_layer_frozen", "structure", "params_not_updating",
         "encoder.layers[0].requires_grad_(False), frozen 'for a warm-up' and never unfrozen"),
    _bug("mlm", "bs1_lr_0.3", "hyperparameter", "lr_too_high nonfinite exploding_gradients loss_floor",
         "optim.batch_size=1 optim.lr=0.3 (for 32 and 0.003)", root="lr_too_high",
         overrides=["optim.batch_size=1", "optim.lr=0.3"]),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
