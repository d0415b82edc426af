"""The twenty-first held-out suite's bugs and what counts as naming each one (format: benchmarks/bugsuite/bugs.py).

Written from docs/diagnostics.md alone, without reading the diagnostics' source or tests: new models and new
variations of the same kinds of mistakes. `named`/`root` use the public codes (VOCABULARY); a code that
describes a real consequence of the bug counts as named. Written before the suite was first run on a bug; the
consequences in `what` were measured in plain PyTorch (Adam at 0.003, batch 32, seed 0) against the clean model.
"""
from __future__ import annotations

from benchmarks.bugsuite.bugs import VOCABULARY, Bug, _bug

FAMILIES = ("ropelm", "pointer", "hypernet", "secnn")

BUGS: tuple[Bug, ...] = (
    _bug("ropelm", "rope_positions_cumsum_batch", "layer", "batch_dependence",
         "the RoPE position ids from the padding mask by cumsum(0) (over the batch) instead of cumsum(-1): an "
         "example alone gets position 0 everywhere, in a batch its row index (alone vs in a batch: 0.035 relative at "
         "init); on 3000 sequences the training loss falls to 0.09 in batches of 32 but the evaluation (one batch of "
         "400) stays at 1.23, validation accuracy 0.76 after 400 steps (clean 1.0)"),
    _bug("ropelm", "causal_fill_not_assigned", "mask", "leakage",
         "scores.masked_fill(future, -inf) called without assigning its result: attention sees every later token, "
         "so the teacher-forced model reads the answer one step ahead; training and validation accuracy 1.0 after "
         "100 steps (silently wrong: generation would fail), alone vs in a padded batch 0.29 relative"),
    _bug("ropelm", "ignore_index_pad_id", "loss", "task_error",
         "cross_entropy(ignore_index=PAD (0)) while the targets mark prompt and padding with -100: the first loss "
         "raises IndexError 'Target -100 is out of bounds'"),
    _bug("ropelm", "steplr_per_iteration", "hyperparameter", "lr_too_low",
         "StepLR(step_size=1, gamma=0.9) meant per epoch, stepped per iteration: the LR is 0.003 x 0.9^t (1.5e-5 after "
         "50 steps); 10 sequences stop at training accuracy 0.83 (loss 0.98) from step ~100 on, 3000 at 0.18",
         overrides=["optim.scheduler._target_=torch.optim.lr_scheduler.StepLR",
                    "+optim.scheduler.args.step_size=1", "+optim.scheduler.args.gamma=0.9"]),

    _bug("pointer", "mask_after_log_softmax", "mask", "batch_dependence",
         "the padding positions set to -1e9 after the log_softmax instead of before: in a padded batch the "
         "distribution over an example's real positions leaks mass to its padding, alone it does not (alone vs in a "
         "batch: 0.23 relative); silently wrong (validation step accuracy 0.844 after 400 steps vs clean 0.851)"),
    _bug("pointer", "ranks_for_order", "data", "labels_not_learnable",
         "the targets s.argsort().argsort() (each number's rank) instead of s.argsort() (the positions in sorted "
         "order), while the decoder's teacher-forced inputs are the sorted values: 10 and 100 examples are memorised, "
         "on 3000 validation step accuracy 0.32 after 400 steps (clean 0.85)"),
    _bug("pointer", "encoder_not_batch_first", "structure", "batch_dependence",
         "the encoder LSTM built without batch_first=True while fed (B, T, H): it runs along the batch, each example's "
         "states depend on the examples before it in the batch (alone vs in a batch: 0.0059 relative at init); "
         "validation step accuracy 0.73 after 400 steps (clean 0.85)"),
    _bug("pointer", "ce_classes_on_dim1", "loss", "loss_mismatch",
         "F.cross_entropy(logp (B, T_dec, T_enc), tgt) without flattening: PyTorch reads dim 1 (the decoder steps) as "
         "the classes; equal lengths hide the error. On 100 examples the loss falls to 0.37 while the metrics' loss "
         "rises to 10.3 and step accuracy stays 0.19"),

    _bug("hypernet", "hyper_head_std_1", "init", "bad_init_loss exploding_gradients",
         "the hypernetwork's output layer drawn N(0, 1) (default ~0.07): the generated target weights are ~15x too "
         "large, first loss 35.5 for a target variance 0.44; validation MSE 0.010 after 600 steps (clean 0.0017)",
         root="bad_init_loss"),
    _bug("hypernet", "weights_of_first_example", "structure", "batch_dependence",
         "the generated weights of the batch's first example used for every example (flat[:1].expand): alone vs in a "
         "batch 6.7 relative; 100 examples: training MSE 0.29 after 600 steps (clean 0.002)"),
    _bug("hypernet", "task_id_mod_4", "data", "labels_not_learnable",
         "the task ids stored modulo 4: functions k and k + 4 share an embedding, so one input (id, x) has two "
         "targets; 10 examples are memorised, 100 reach training MSE 0.074 after 600 steps (clean 0.002), 2000 "
         "validation MSE 0.13 (clean 0.0017)"),
    _bug("hypernet", "per_task_mean_empty", "loss", "division_by_zero nonfinite",
         "the loss a mean of per-task MSEs, sq[task == k].mean() for every k: a task absent from the batch gives "
         "0/0 = NaN, so the loss is NaN on every 10-example batch and on ~11% of batches of 32 (the weights stay "
         "finite: an empty selection passes no gradient)"),

    _bug("secnn", "se_pool_over_batch", "layer", "batch_dependence",
         "the squeeze x.mean((0, 2, 3)) (the batch too) instead of x.mean((2, 3)): every example gets the batch's "
         "gates; alone vs in a batch 5.6e-5 relative at init but 0.25 after 600 steps (accuracy 0.83 alone vs 0.89 "
         "in a batch of 64; validation 0.94 vs clean 0.97)"),
    _bug("secnn", "se_squeeze_zero_init", "init", "params_not_updating",
         "the SE squeeze layer (fc1) weight and bias zeroed: its ReLU sits at 0, fc1 gets exactly zero gradient and "
         "stays 0 after 600 steps, every gate is a constant; validation accuracy 0.90 (clean 0.97)"),
    _bug("secnn", "se_gate_detached", "structure", "params_not_updating",
         "the SE gate .detach()ed: the 8 SE tensors get no gradient; validation accuracy 0.885 after 300 steps "
         "(clean 0.96)"),
    _bug("secnn", "rot90_augment", "data", "labels_not_learnable",
         "a random quarter turn (p 0.5) in get_batch as augmentation, the label kept: horizontal stripes become "
         "vertical ones and vice versa; 2000 images: validation accuracy 0.73 after 300 steps (clean 0.96)"),
)
assert all(b.named <= VOCABULARY and b.root <= b.named for b in BUGS)
