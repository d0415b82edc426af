"""The fortieth held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source, the policy or the tests: new models
on new synthetic data and new variations of the same kinds of mistakes. `named`/`root` use the public codes
(VOCABULARY); a code that describes a real consequence of the bug counts as named. Decided and committed before the
suite was first run on a bug (plain-loop measurements: see RESULTS.md).
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("weather", "ecg", "stutter", "incrlm")

BUGS: tuple[Bug, ...] = (
    _bug("weather", "pressure_raw_hpa", "data", "input_scale",
         "mu[2], sd[2] = 0, 1: the pressure column left in hPa (985..1035) while the other seven are standardised"),
    _bug("weather", "double_softmax", "loss", "loss_floor loss_mismatch vanishing_gradients",
         "F.cross_entropy(logits.softmax(-1), y): probabilities fed to a loss that applies log_softmax again; the "
         "loss cannot fall below ~0.9 (5 classes) and its gradients are squeezed",
         root="loss_floor loss_mismatch"),
    _bug("weather", "constant_init_hidden", "init", "symmetric_units",
         "nn.init.constant_(p, 0.05) on every weight and bias of both hidden layers: the 64 units of each layer are "
         "copies (fc1's stay copies for ever), the MLP works through one hidden unit"),
    _bug("weather", "fc1_detached", "structure", "params_not_updating",
         "h = F.relu(fc1(x)).detach(): the first layer never trains (random features)"),
    _bug("weather", "lr_20", "hyperparameter", "lr_too_high nonfinite dead_units exploding_gradients",
         "optim.lr=20 (for Adam at 0.003)", root="lr_too_high", overrides=["optim.lr=20"]),

    _bug("ecg", "polarity_flip_aug", "data", "labels_not_learnable",
         "training traces multiplied by a random sign (an audio augmentation) although rising/falling steps and up/"
         "down spikes are told apart by their sign: two class pairs become each other"),
    _bug("ecg", "label_smoothing_1", "loss", "loss_floor loss_mismatch labels_not_learnable",
         "F.cross_entropy(..., label_smoothing=1.0) (meant 0.1): the target is uniform for every example, no label "
         "reaches the loss"),
    _bug("ecg", "conv_uniform_0_1", "init", "bad_init_loss exploding_gradients saturated_units input_scale",
         "nn.init.uniform_(conv.weight, 0, 1) on the three convolutions (meant (-a, a)): all-positive kernels, the "
         "activations grow ~100x per layer, first loss in the thousands", root="bad_init_loss exploding_gradients"),
    _bug("ecg", "zscore_over_batch", "layer", "batch_dependence",
         "x = (x - x.mean()) / x.std() in forward without dim=-1: each trace standardised by the batch's statistics "
         "(baselines differ per trace), so its output depends on its batch-mates"),
    _bug("ecg", "val_same_seed", "data", "leakage",
         "the validation set drawn with the training generator's seed 0 again: its 600 traces are the first 600 "
         "training ones"),

    _bug("stutter", "context_detached", "structure", "params_not_updating",
         "context = (softmax(scores) @ enc).detach() (meant for a frozen encoder): the attention's W never gets a "
         "gradient and the encoder learns only through the decoder's start state; plain loop (Adam 0.003, batch 32) "
         "val token accuracy 0.78 / 0.89 / 0.95 after 100 / 200 / 400 steps (clean 0.998 / 1.0 / 1.0)"),
    _bug("stutter", "tgt_in_unshifted", "data", "leakage trivial_labels",
         "tgt_in filled with the target itself (the BOS shift forgotten): the decoder reads the token it must "
         "predict"),
    _bug("stutter", "tgt_emb_std_30", "init", "bad_init_loss saturated_units vanishing_gradients",
         "nn.init.normal_(tgt_emb.weight, std=30) (30x Embedding's default): the decoder GRU's gates saturate"),
    _bug("stutter", "sort_src_only", "data", "labels_not_learnable",
         "the batch sorted by source length for packing, src and src_len reordered but tgt_in/tgt not: each source "
         "meets another word's target"),
    _bug("stutter", "lr_1e-5", "hyperparameter", "lr_too_low",
         "optim.lr=1e-5 (for Adam at 0.003)", overrides=["optim.lr=1e-5"]),

    _bug("incrlm", "causal_mask_missing", "mask", "leakage",
         "the causal mask never applied (only the key padding mask): every position reads the token it must "
         "predict; plain loop val token accuracy 1.0 after 100 steps (clean 0.91)"),
    _bug("incrlm", "pad_mask_on_queries", "mask", "nonfinite",
         "the key padding mask broadcast as pad[:, None, :, None] (rows) instead of pad[:, None, None, :]: PAD query "
         "rows all -inf, NaN there, and the NaN reaches every position through the next block's values"),
    _bug("incrlm", "heads_reshape_no_transpose", "layer", "leakage",
         "(attn @ v).reshape(B, L, D) without .transpose(1, 2): each position's output is built from other "
         "positions' (future ones too) head outputs; plain loop val token accuracy 0.87 / 0.94 / 0.97 after 100 / 200 / "
         "400 steps (clean 0.91 / 0.99 / 0.997)"),
    _bug("incrlm", "block_init_std_1", "init", "bad_init_loss saturated_units exploding_gradients vanishing_gradients",
         "nn.init.normal_(weight, std=1.0) on every Linear of both blocks (8-16x PyTorch's default): the residual "
         "stream and the attention logits blow up, the softmaxes saturate", root="bad_init_loss saturated_units"),
    _bug("incrlm", "block1_detached", "structure", "params_not_updating",
         "h = h.detach() after the first block (a truncated-backprop habit): the embeddings and block 1 never train"),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
