"""Held-out-6 family 4: a variational autoencoder (MLP encoder and decoder) on sklearn's 8x8 digits in [0, 1].

The encoder maps the 64 pixels to the mean and log-variance of a 16-number Gaussian posterior; training samples
z = mu + sigma * eps (the reparameterisation), evaluation (eval mode) decodes z = mu. The decoder gives one logit
per pixel; the loss is the negative ELBO per image: Bernoulli cross-entropy summed over the pixels plus the KL
divergence to N(0, I), averaged over the batch. `chance_loss` is the cross-entropy of the mean image (a decoder
that ignores z, KL 0). The pixels are not binary, so a perfect reconstruction still costs their entropy (about
15 nats a digit): the goals are on the loss itself. Tuple batches (x, x). Each bug is one line, marked
`# BUG <name>`.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "pixels_0_16", "kl_sign_flipped", "hand_bce", "decoder_zero_init")
PIXELS, HIDDEN, LATENT = 64, 128, 16


def digits(bug: str) -> torch.Tensor:
    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).reshape(-1, PIXELS) / 16.0
    if bug == "pixels_0_16":
        x = torch.tensor(d.images, dtype=torch.float32).reshape(-1, PIXELS)  # BUG pixels_0_16: the /16 forgotten
    return x[torch.randperm(len(x), generator=torch.Generator().manual_seed(0))]


class VAE(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(PIXELS, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 2 * LATENT))
        self.dec_in, self.dec_out = nn.Linear(LATENT, HIDDEN), nn.Linear(HIDDEN, PIXELS)
        if bug == "decoder_zero_init":
            for p in self.dec_in.parameters(): nn.init.zeros_(p)  # noqa: E701  # BUG decoder_zero_init: "start from a blank decoder"

    def forward(self, x):
        """(pixel logits, mu, logvar)."""
        mu, logvar = self.enc(x).chunk(2, -1)
        z = mu + (0.5 * logvar).exp() * torch.randn_like(mu) if self.training else mu
        return self.dec_out(F.relu(self.dec_in(z))), mu, logvar


def negative_elbo(out, x, bug: str) -> torch.Tensor:
    logits, mu, logvar = out
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
    if bug == "hand_bce":
        p = torch.sigmoid(logits); recon = -(x * p.log() + (1 - x) * (1 - p).log()).sum(-1)  # noqa: E702  # BUG hand_bce: log(0) once p saturates
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1)
    if bug == "kl_sign_flipped":
        return (recon - kl).mean()  # BUG kl_sign_flipped: the KL term subtracted, not added
    return (recon + kl).mean()


class VAETask:
    metrics = ("train/loss", "val/loss", "val/recon")

    def __init__(self, bug: str = "none", n_val: int = 397):
        self.bug = check_bug(bug, BUGS, "vae")
        x = digits(bug)
        self.x_train, self.x_val = x[n_val:], x[:n_val]
        mean = self.x_train.mean(0).clamp(1e-4, 1 - 1e-4)
        self.chance = float(F.binary_cross_entropy(mean.expand_as(self.x_train).clamp(0, 1),
                                                   self.x_train.clamp(0, 1), reduction="none").sum(-1).mean())

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.x_train))
        x_train = self.x_train[:n]
        model, bug = VAE(self.bug), self.bug

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, x in (("train", x_train), ("val", self.x_val)):
                    logits, mu, logvar = model(x)
                    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1).mean()
                    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1).mean()
                    out[f"{split}/loss"] = (recon + kl).item()
                    if split == "val":
                        out["val/recon"] = recon.item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (x_train[idx], x_train[idx]),
                       loss=lambda model, batch: negative_elbo(model(batch[0]), batch[1], bug), evaluate=evaluate,
                       chance_loss=self.chance, forward=lambda model, batch: model(batch[0])[0],
                       targets=lambda batch: batch[1])
