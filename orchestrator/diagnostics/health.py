"""Layer health during training, on any architecture: activations, per-layer gradients, update/weight ratios.

At the first step, at iteration `health.early_sample` (50; stages shorter than 2 x `health.every` only: longer
ones measure only that step's update, for the crawling-LR rule)
and every `health.every` iterations (500), the
forward of one training step is watched with hooks on every leaf module (no extra forward pass; a
recurrent layer's output sequence, a PackedSequence's data included), and after its backward:
- `dead_units`: share of a module's units (channels, or the last dimension of a sequence) whose output
  is exactly 0 for every example of the batch > `health.dead_fraction` (0.5; cs231n: "as much as 40% of
  your network can be dead"). Any module type; not Dropout (random zeros), not a module whose own
  parameters are all zero (a zero init, which the first update ends). Recorded as info when seen, and as
  a warning (with the iteration it was first seen) only when the stage then fails: a clean DeepSets model
  has most of the units after its pooling dead for every set and converges all the same, so dead units
  alone are no fault.
- `saturated_units`: share of the outputs at the rails > `health.saturated_fraction` (0.5): Tanh and
  recurrent layers (GRU/LSTM/tanh-RNN hidden states) |y| > 0.99, Sigmoid outside [0.01, 0.99]
  (LeCun et al. 1998, Glorot & Bengio 2010). Recurrent states: share > `health.saturated_fraction_recurrent`
  (0.2), judged at the stage's first samples only (up to iteration `health.early_sample`): training
  itself makes a recurrent state confident over thousands of steps. A warning at the first step of fresh weights
  (the init or the input scale put them there) or when a stage the weights came from had it; at any other sample
  training put them there (a squeeze-and-excitation gate that learnt to open or close): info, and a warning if the
  stage then fails.
- `vanishing_gradients` / `exploding_gradients`: gradient norm of the first weight layer / the last one
  below `health.vanishing_ratio` (1e-3) or above `health.exploding_ratio` (1e3).
- `exploding_gradients` judged against the weights: the median over layers of ||grad|| / ||W|| above
  `health.grad_weight_ratio` (10): huge from the first step, which no running median can call a spike.
- the update/weight ratio ||dW|| / ||W|| of each weight layer over the next step (cs231n: ~1e-3 is
  healthy), kept for `lr_too_low` after a failure and plotted; its median over layers above
  `health.update_ratio_high` (0.1) at `health.update_ratio_samples` (2) samples after the first step (Adam's
  first step moves every weight by the LR, whatever the gradient): `exploding_gradients` (the steps are
  too large for the weights: LR too high). Zero weights (zero-initialised) are left out.
Scalars go to `sinks.scalars` under `health/...`; histograms of activations (parameter-free modules and
recurrent layers, at most 32) to
`sinks.histogram(stage, iteration, "activations/<module>", values)`. Each code fires once per stage.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Optional

import torch
from torch import nn

from ..diagnosis import Diagnosis
from .common import num, tensors_in, warn_if_failed, weight_layers, zero_initialised
from .config import HealthConfig

SATURATING = (nn.Tanh, nn.Sigmoid, nn.Hardtanh)
RECURRENT = (nn.RNNBase, nn.RNNCellBase)  # hidden states in (-1, 1) (tanh), ReLU-RNNs aside
NOT_DEAD = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.Identity)
CHANNELS_FIRST = (nn.Conv1d, nn.ConvTranspose1d, nn.BatchNorm1d, nn.InstanceNorm1d, nn.MaxPool1d, nn.AvgPool1d,
                  nn.AdaptiveAvgPool1d, nn.AdaptiveMaxPool1d)
MAX_HISTOGRAMS = 32


def lr_now(run) -> float:
    """The LR this step's update uses: the optimizer's own (a scheduler set it at its construction already, before
    the stage's run.lr follows it), else the stage's."""
    groups = getattr(getattr(run, "optimizer", None), "param_groups", None)
    return float(groups[0]["lr"]) if groups else float(run.lr)


ADAMS = (torch.optim.Adam, torch.optim.AdamW, torch.optim.NAdam, torch.optim.Adamax)  # first step ~LR per element


class HealthMonitor:
    def __init__(self, c: HealthConfig, early_lr=None, stop_crawling: bool = False):
        self.c = c
        # (run, self) -> lr_too_low or None, asked at each update sample from the second on (failure.crawling_early):
        # an LR thousands of times below the probe's threshold is named at iteration ~50, not at the stage's end;
        # with `stop_crawling` the stage then ends at its next evaluation (its budget at that LR would teach nothing)
        self.early_lr, self.stop_crawling = early_lr, stop_crawling
        self.handles: list = []
        self.armed = False
        self.acts: dict = {}
        self.outputs: set = set()  # data pointers of the model's outputs in the sampled step
        self.pending = None         # weights before an update, to measure it
        self.counts = True          # ... in a full sample (False: an update-only one, see on_start)
        self.update_ratios: list = []  # (iteration, {layer: ratio})
        self.high_updates = 0       # samples whose median update/weight ratio was above update_ratio_high
        self.fired: set = set()
        self.dead_seen: Optional[dict] = None  # the dead_units info, a warning if the stage fails
        self.saturated_seen: Optional[dict] = None  # saturated_units on trained weights: info, a warning if it fails
        self.vanishing_seen: Optional[dict] = None  # vanishing_gradients on trained weights: the same
        self.hook_error: Optional[Exception] = None  # raised inside a forward hook (see guarded)

    # the watched forward
    def arm(self, model: nn.Module) -> None:
        self.acts, self.armed, self.outputs = {}, True, set()
        for name, m in model.named_modules():
            if not any(True for _ in m.children()) or isinstance(m, RECURRENT):
                self.handles.append(m.register_forward_hook(self._hook(name or "(root)")))
        self.handles.append(model.register_forward_hook(self._output_hook))

    def _output_hook(self, m, inputs, output):
        """Where the model's own outputs live: a layer whose output is the model's (a final Sigmoid) is judged
        as an output, not as a hidden layer."""
        with self.guarded():
            if torch.is_grad_enabled():
                self.outputs.update(t.data_ptr() for t in tensors_in(output))

    def _hook(self, name):
        def hook(m, inputs, output):
            with self.guarded():
                if not torch.is_grad_enabled():  # an evaluation between arming and the sampled training step
                    return
                y = _first_tensor(output)
                if y is not None and name not in self.acts and (y.is_floating_point() or y.is_complex()):
                    self.acts[name] = (m, y.detach())
        return hook

    @contextmanager
    def guarded(self):
        """A forward hook runs inside the user's own forward, where the trainer cannot catch what it raises: an
        output it did not foresee must not end the training it watches. The error is raised again from
        after_backward, where the trainer drops the monitor and says so (check_skipped)."""
        try:
            yield
        except Exception as e:  # noqa: BLE001
            self.hook_error = self.hook_error or e

    def disarm(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles, self.armed = [], False

    close = disarm  # Monitor.close: the trainer drops a monitor that raised

    def on_start(self, run) -> None:
        self.fired, self.update_ratios, self.pending, self.high_updates = set(), [], None, 0
        self.sample_lrs, self.pending_lr = [], None  # the LR of each measured update (a warm-up's, not the base)
        self.dead_seen, self.saturated_seen, self.vanishing_seen, self.hook_error = None, None, None, None
        self.every = self.c.every or 1 << 62
        # the early sample gives a short stage its second update ratio; a long one has the regular samples
        self.early = self.c.early_sample if run.settings.budget < 2 * self.every else 0
        # a long stage measures one update there too, for the crawling-LR rule alone (failure.crawling_early): the
        # other judgments keep their samples
        self.update_only = self.c.early_sample if self.early == 0 and self.early_lr is not None else 0
        restored, self.restored = getattr(self, "restored", None), None
        if restored:  # resumed: what the samples before the checkpoint found
            self.fired, self.update_ratios = set(restored["fired"]), list(restored["update_ratios"])
            self.pending, self.high_updates = restored["pending"], restored.get("high_updates", 0)
            self.dead_seen, self.saturated_seen = restored.get("dead_seen"), restored.get("saturated_seen")
            self.vanishing_seen = restored.get("vanishing_seen")
            self.sample_lrs, self.pending_lr = list(restored.get("sample_lrs", [])), restored.get("pending_lr")
        # the first step, then the schedule; a resumed stage keeps the schedule of a run never interrupted
        nxt = 1 if run.iteration == 0 else self._after(run.iteration)
        if nxt == run.iteration + 1:
            self.arm(run.model)
            nxt = self._after(nxt)
        self.next_sample = nxt

    def _after(self, step: int) -> int:
        """The next sampled step after `step`."""
        nxt = (step // self.every + 1) * self.every
        return self.early if step < self.early < nxt else nxt

    def state_dict(self) -> dict:
        return {"fired": sorted(self.fired), "update_ratios": list(self.update_ratios), "pending": self.pending,
                "high_updates": self.high_updates, "dead_seen": self.dead_seen,
                "saturated_seen": self.saturated_seen, "vanishing_seen": self.vanishing_seen,
                "sample_lrs": list(self.sample_lrs),
                "pending_lr": self.pending_lr}

    def load_state_dict(self, state: dict) -> None:
        self.restored = state  # applied by on_start, which the trainer calls after restoring

    def after_backward(self, run, loss) -> None:
        step = run.iteration + 1
        if self.pending is None and not self.armed and step + 1 != self.next_sample and step != self.update_only:
            return  # the common case, kept cheap
        if self.pending is not None:
            self.measure_update(run, step)
        if step == self.update_only and not self.armed:
            self.pending, self.counts = {n: p.detach().clone() for n, p in weight_layers(run.model)}, False
            self.pending_lr = lr_now(run)
        if self.armed:
            self.disarm()
            if self.hook_error is not None:  # the hooks only run while armed: said here, not every step
                raise self.hook_error
            self.analyse(run, step)
            self.pending, self.counts = {n: p.detach().clone() for n, p in weight_layers(run.model)}, True
            self.pending_lr = lr_now(run)
        if step + 1 == self.next_sample:
            self.arm(run.model)
            self.next_sample = self._after(step + 1)

    def on_end(self, run, outcome) -> None:
        self.disarm()
        warn_if_failed(run, self.dead_seen, outcome)  # dead units may be why it failed
        warn_if_failed(run, self.saturated_seen, outcome)  # ... and so may units that training drove to the rails
        warn_if_failed(run, self.vanishing_seen, outcome)  # ... and gradients that vanished as it trained

    # the numbers
    def measure_update(self, run, step: int) -> None:
        ratios, steps = {}, {}  # per layer: the update over the weights; its RMS per element over the LR
        lr = self.pending_lr if self.pending_lr is not None else lr_now(run)
        for n, p in weight_layers(run.model):
            before = self.pending.get(n)
            if before is not None:
                size = float(torch.linalg.vector_norm(before))
                moved = float(torch.linalg.vector_norm(p.detach() - before))
                if size > 0:  # a zero-initialised weight has no scale to compare with
                    ratios[n] = moved / size
                if lr > 0 and p.numel() and p.requires_grad and moved > 0:  # (not moved: frozen, or no gradient)
                    steps[n] = moved / (lr * math.sqrt(p.numel()))
        self.pending, self.pending_lr = None, None
        self.sample_lrs.append(lr)
        if step - 1 == 1:
            self.adam_first_step(run, steps, lr)
        self.update_ratios.append((step - 1, ratios))  # (an update-only sample too: lr_too_low reads them all)
        run.sinks.scalars(run.stage, step - 1, {f"health/update_ratio/{n}": r for n, r in ratios.items()})
        if self.early_lr is not None and len(self.update_ratios) >= 2 and "lr_too_low" not in self.fired:
            slow = self.early_lr(run, self)
            if slow is not None:
                self.fire(run, step - 1, slow.code, slow.message, slow.evidence, slow.fix)
                if self.stop_crawling:
                    run.stop = f"lr_too_low at iteration {step - 1}: the weights crawl at the LR {num(run.base_lr)}, " \
                               "thousands of times below the LR probe's NaN threshold"
        finite = sorted(v for v in ratios.values() if math.isfinite(v))
        # not the first step: Adam's first step moves every weight by the LR whatever the gradient
        if step - 1 > 1 and self.counts and finite and finite[len(finite) // 2] > self.c.update_ratio_high:
            self.high_updates += 1
            if self.high_updates >= self.c.update_ratio_samples:
                median = finite[len(finite) // 2]
                self.fire(run, step - 1, "exploding_gradients",
                          f"each update changes the weights by {num(median)} of their size (median over layers; "
                          f"healthy ~1e-3) at {self.high_updates} samples: the steps are too large",
                          {"update_ratio": {k: num(v) for k, v in ratios.items()}, "median": num(median),
                           "threshold": self.c.update_ratio_high, "lr": num(run.lr)},
                          "lower the LR (or the loss scale), or clip gradients (optim.clip_norm)")

    def adam_first_step(self, run, steps: dict, lr: float) -> None:
        """`lr_too_low` when an Adam-family optimiser's first step moves the weights by far less than its LR: that
        step is ~LR per element whatever the gradient's size (m / sqrt(v) = g / |g|), unless eps dwarfs the
        gradients (eps=1.0, a TensorFlow recipe's): then every step is ~LR x |gradient|, and the stage crawls at
        whatever LR it is given (the probe's threshold too moves up with eps, so its gap says nothing)."""
        opt = run.optimizer
        if not isinstance(opt, ADAMS) or not steps:
            return
        finite = sorted(v for v in steps.values() if math.isfinite(v))
        median = finite[len(finite) // 2] if finite else math.inf
        if median >= self.c.adam_first_step:
            return
        eps = opt.param_groups[0].get("eps")
        self.fire(run, 1, "lr_too_low",
                  f"the optimiser's first step moved the weights by {num(median)} of its LR {num(lr)} per element "
                  f"(median over layers): {type(opt).__name__}'s first step is about the LR whatever the gradient, "
                  f"unless its eps ({num(eps)}) is larger than the gradients, which makes every step ~LR x gradient: "
                  "the effective LR is far below the one set",
                  {"first_step_over_lr": num(median), "lr": num(lr), "eps": num(eps),
                   "per_layer": {n: num(v) for n, v in list(steps.items())[:20]}},
                  "use eps ~1e-8 (PyTorch's default); TensorFlow's epsilon of 1.0 in some recipes is not the same "
                  "quantity")

    def analyse(self, run, step: int) -> None:
        scalars, stage = {}, run.stage
        drawn = 0
        for name, (m, y) in self.acts.items():
            y = y.float()
            # histograms of the activations (parameter-free modules, recurrent states): the layers' own
            # outputs are summarised by their scalars, and each histogram costs a TensorBoard write
            activation = isinstance(m, RECURRENT) or not any(True for _ in m.parameters(recurse=False))
            if self.c.histograms and drawn < MAX_HISTOGRAMS and activation and not isinstance(m, NOT_DEAD):
                drawn += 1
                run.sinks.histogram(stage, step, f"activations/{name}", y.flatten().cpu())
            self.dead(run, step, name, m, y, scalars)
            self.saturated(run, step, name, m, y, scalars)
        self.acts = {}
        layers = [(n, p.grad) for n, p in weight_layers(run.model) if p.grad is not None]
        norms = {n: float(torch.linalg.vector_norm(g)) for n, g in layers}
        scalars.update({f"health/grad_norm/{n}": v for n, v in norms.items()})
        sizes = {n: float(torch.linalg.vector_norm(p.detach())) for n, p in weight_layers(run.model) if n in norms}
        relative = sorted(norms[n] / sizes[n] for n in norms if sizes[n] > 0 and math.isfinite(norms[n]))
        if relative:
            median = relative[len(relative) // 2]
            scalars["health/grad_weight_ratio"] = median
            # judged from the stage's first step on fresh weights; a warm-started stage's first step is the
            # weights that memorised the stage before meeting new examples (a Gaussian likelihood whose
            # variances shrank on 10 points: 11x on the next stage's first batch), so its later samples judge it
            # and only at the stage's start (its samples up to `early_sample`): that is the claim, huge from the
            # start; later, a likelihood whose variances collapse on memorised points (a Gaussian NLL going far below
            # 0, holdout44's clean harvest: 19x at iteration 1000 of a failed stage) is no fault of the gradients
            start = step <= max(self.c.early_sample, 1)
            if median > self.c.grad_weight_ratio and start and (step > 1 or run.stage.warm_start_source() is None):
                self.fire(run, step, "exploding_gradients",
                          f"the gradients are {num(median)}x the weights they update (median over layers, at "
                          f"iteration {step}; healthy nets are well below 1): huge from the start, so no spike shows",
                          {"grad_weight_ratio": num(median), "threshold": self.c.grad_weight_ratio,
                           "grad_norms": {n: num(v) for n, v in list(norms.items())[:20]}},
                          "check the loss scale (a sum over a large batch/sequence, a factor), the init scale "
                          "and the target scale; clip gradients (optim.clip_norm)")
            if at_init(run, step):  # measured at init only (clean: >= 4.6e-4)
                self.silent_layer(run, step, norms, sizes, median)
        # a zero-initialised weight (Glow's couplings, ReZero, LoRA's B) blocks the first gradient of the layers
        # before it on purpose: a first layer's zero gradient then says nothing until that weight has moved
        # nor does a first layer whose own weights are all zero (zero-initialised: holdout30's shapes, a zeroed stem
        # before a BatchNorm, whose zero variance made its gradient 1.5e8x the head's): the zero rows that get no
        # gradient are params_not_updating's to name
        if len(layers) >= 2 and norms[layers[-1][0]] > 0 and sizes.get(layers[0][0], 1.0) > 0 and not (
                norms[layers[0][0]] == 0 and zero_initialised(list(run.model.named_parameters()))):
            # a last layer without gradient (its input is all zero: a dead path) has no scale to compare with;
            # params_not_updating judges zero gradients
            (first, g0), (last, g1) = (layers[0][0], norms[layers[0][0]]), (layers[-1][0], norms[layers[-1][0]])
            ratio = g0 / g1
            scalars["health/grad_ratio_first_last"] = ratio
            ev = {"first_layer": first, "first_norm": num(g0), "last_layer": last, "last_norm": num(g1),
                  "ratio": num(ratio)}
            if ratio < self.c.vanishing_ratio:
                # at the first step of fresh weights the init made it: a fault at once. Later, training did: a
                # weight decay that holds the weights down, a loss that stopped measuring the task, labels the net
                # cannot follow (holdout55's cupping and guestlists, holdout58's kiln: the root, named by the
                # failure's checks, came after it). Info, and a warning dated here if the stage fails and no root
                # cause explains it (as dead_units)
                trained = not at_init(run, step)
                message = f"the first layer's gradient ({first}) is {num(ratio)}x the last layer's ({last})"
                seen = self.fire(run, step, "vanishing_gradients",
                                 message + " (a warning if the stage fails)" if trained else message, ev,
                                 "use ReLU-family activations, residual connections, normalisation or a better init",
                                 severity="info" if trained else "warning")
                if trained and seen:
                    self.vanishing_seen = {**seen, "message": message}
            elif ratio > self.c.exploding_ratio:
                self.fire(run, step, "exploding_gradients",
                          f"the first layer's gradient ({first}) is {num(ratio)}x the last layer's ({last})", ev,
                          "clip gradients (optim.clip_norm), lower the init scale, or add normalisation")
        if scalars:
            run.sinks.scalars(stage, step, scalars)

    def silent_layer(self, run, step: int, norms: dict, sizes: dict, median: float) -> None:
        """`vanishing_gradients` for one weight layer whose gradient, relative to its weights, is a vanishing share
        of the median layer's (not exactly 0: params_not_updating's): layers between healthy ones that no signal
        reaches (normalisation gains initialised near 0 with random signs, a softmax saturated before them), which
        the first/last ratio below does not see when the first and last layers are fine."""
        relative = {n: norms[n] / sizes[n] for n in norms
                    if sizes[n] > 0 and math.isfinite(norms[n]) and norms[n] > 0}
        if len(relative) < 3 or not median > 0:
            return
        name = min(relative, key=relative.get)
        share = relative[name] / median
        if share < self.c.layer_vanishing_ratio:
            self.fire(run, step, "vanishing_gradients",
                      f"{name} gets a gradient {num(relative[name])}x its weights at iteration {step}, {num(share)}x "
                      f"the median layer's ({num(median)}): no signal reaches it, so it cannot learn",
                      {"layer": name, "grad_weight_ratio": num(relative[name]), "median_ratio": num(median),
                       "share": num(share)},
                      "look at what lies between it and the loss: normalisation gains initialised like weights "
                      "(near 0, both signs; they belong at 1), a saturated softmax or gate, a scale near 0")

    def dead(self, run, step, name, m, y, scalars) -> None:
        if isinstance(m, NOT_DEAD) or y.dim() < 2 or y.shape[0] < self.c.min_batch:
            return
        own = list(m.parameters(recurse=False))
        if own and not any(bool(p.detach().any()) for p in own):
            return  # zero-initialised: its output is zero until the first update, on purpose
        unit_dim = 1 if y.dim() in (4, 5) or (y.dim() == 3 and isinstance(m, CHANNELS_FIRST)) else y.dim() - 1
        fired = (y != 0).transpose(0, unit_dim).reshape(y.shape[unit_dim], -1).any(dim=1)
        dead = 1.0 - fired.float().mean().item()
        if dead > 0 or not own:  # a layer with weights is plotted only when some of its outputs are dead
            scalars[f"health/dead_fraction/{name}"] = dead
        if dead > self.c.dead_fraction and "dead_units" not in self.fired:
            message = (f"{dead:.0%} of the units of {type(m).__name__} {name} output 0 for every example of a "
                       f"batch of {y.shape[0]}")
            self.dead_seen = self.fire(
                run, step, "dead_units", message + " (a warning if the stage fails)",
                {"layer": name, "type": type(m).__name__, "dead_fraction": num(dead), "units": int(fired.numel())},
                "lower the LR, use a smaller init scale or LeakyReLU/GELU, or check the input scale and biases",
                severity="info")
            self.dead_seen["message"] = message

    def saturated(self, run, step, name, m, y, scalars) -> None:
        if y.data_ptr() in self.outputs:
            # the model's output: confident predictions sit at the rails by design, and a loss that matches the
            # squashing (BCELoss after a Sigmoid) cancels its slope, so no gradient vanishes there
            return
        if isinstance(m, nn.Sigmoid):
            rails = ((y < 1 - self.c.saturation) | (y > self.c.saturation)).float().mean().item()
        elif isinstance(m, SATURATING) or (isinstance(m, RECURRENT) and getattr(m, "nonlinearity", "tanh") == "tanh"):
            lim = m.max_val if isinstance(m, nn.Hardtanh) and not isinstance(m, nn.Tanh) else 1.0
            rails = (y.abs() > self.c.saturation * lim).float().mean().item()
        else:
            return
        scalars[f"health/saturated_fraction/{name}"] = rails
        # a recurrent state at the rails stays there step after step (it is fed back): a lower share already
        # stalls learning, and healthy GRU/LSTM states rarely go past |h| > 0.99 (clean seq2seq: < 10%)
        limit = self.c.saturated_fraction_recurrent if isinstance(m, RECURRENT) else self.c.saturated_fraction
        # ... but training itself drives a recurrent state to confident values over thousands of steps (a clean
        # GRU decoder reached 20% after 1000 steps of its third stage): only the stage's first samples judge it,
        # where saturation comes from the init, the input scale or the first updates
        if isinstance(m, RECURRENT) and step > self.c.early_sample:
            return
        # ... and a warm-started stage's recurrent states may have been driven there by the stage before, which
        # memorised its examples (a clean CTC GRU: 21% at the next stage's first step): unless a stage it started
        # from was saturated too (an init that pins the states: the same fault, carried), only the general share
        # judges them
        if isinstance(m, RECURRENT) and run.stage.warm_start_source() is not None \
                and "saturated_units" not in run.inherited:
            limit = self.c.saturated_fraction
        if rails > limit:
            # at the first step of fresh weights the rails come from the init or the input scale: a fault at once,
            # as is saturation carried from a stage that had it. Elsewhere training put them there, and a gate that
            # learnt to open or close (squeeze-and-excitation, an LSTM's gates after a stage that memorised its
            # examples: 52-87% of a clean SE CNN's gates) is no fault while the stage trains on: info, and a
            # warning dated here if the stage then fails (as dead_units)
            trained = not at_init(run, step) \
                and "saturated_units" not in run.inherited
            message = (f"{rails:.0%} of the outputs of {type(m).__name__} {name} are at the rails (gradients through "
                       "them vanish)")
            said = message + " (a warning if the stage fails)" if trained else message
            seen = self.fire(run, step, "saturated_units", said,
                             {"layer": name, "type": type(m).__name__, "saturated_fraction": num(rails),
                              "threshold": self.c.saturation, "share_limit": limit},
                             "scale the inputs, lower the init scale or LR, or add normalisation before it",
                             severity="info" if trained else "warning")
            if trained and seen:
                self.saturated_seen = {**seen, "message": message}

    def fire(self, run, step, code, message, evidence, fix, severity: str = "warning") -> Optional[dict]:
        if code in self.fired:
            return None
        self.fired.add(code)
        d = Diagnosis(code, severity, message, iteration=step, evidence=evidence, fix=fix)
        run.diagnose(d)
        return d.to_dict()



def at_init(run, step: int) -> bool:
    """The sample sees the weights as the task built them: the first step of a stage that starts fresh."""
    return step == 1 and run.stage.warm_start_source() is None


def _first_tensor(output):
    """A module's main output: a tensor, the first tensor of a tuple (RNNs: the output sequence), or
    a PackedSequence's data (no padding in it)."""
    if isinstance(output, torch.Tensor):
        # a nested tensor (nn.TransformerEncoder's fast path with a padding mask, in eval mode) has no shape
        return None if output.is_nested else output
    data = getattr(output, "data", None)
    if isinstance(output, tuple) and isinstance(data, torch.Tensor) and hasattr(output, "batch_sizes"):
        return data
    if isinstance(output, (tuple, list)) and output:
        return _first_tensor(output[0])
    return None
