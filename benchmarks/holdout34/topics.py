"""Held-out-34 family 1: an MLP classifying documents into five topics from their bag-of-words counts.

A vocabulary of 80 words: a Zipf-like background (word r drawn with weight 1/(r+1)) shared by every topic, and
for each topic ten words of its own (words 30..79, ten per topic) drawn with extra weight. A document is 300..1500
words long (uniform); its words are drawn from the background mixed with its topic (TOPIC_SHARE of the words from
the topic's ten). NumPy seed 0 draws 3000 training and 1000 validation documents. Features: the counts per 100
words, log1p, standardised with the training statistics. Model: Linear(80, 64) - ReLU - Linear(64, 64) - ReLU -
Linear(64, 5). Cross-entropy; Adam at 0.003. Tuple batches (features (B, 80), topic (B,)). Metrics: loss and
accuracy on the stage's documents (at most 1000) and on validation; extras y_val. Each bug is one line, marked
`# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, on_device_of, subset_size
from orchestrator.task import Problem

BUGS = ("none", "train_labels_rolled", "raw_counts", "nll_on_probabilities", "hidden_zero_init")
N_TRAIN, N_VAL, VOCAB, TOPICS, TOPIC_WORDS = 3000, 1000, 80, 5, 10
TOPIC_SHARE = 0.04


def draw(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    background = 1.0 / np.arange(1, VOCAB + 1)
    background /= background.sum()
    topic = rng.integers(0, TOPICS, n)
    length = rng.integers(300, 1501, n)
    counts = np.empty((n, VOCAB))
    for i in range(n):
        own = np.zeros(VOCAB)
        own[30 + TOPIC_WORDS * topic[i]: 30 + TOPIC_WORDS * (topic[i] + 1)] = 1.0 / TOPIC_WORDS
        counts[i] = rng.multinomial(length[i], (1 - TOPIC_SHARE) * background + TOPIC_SHARE * own)
    return counts, length, topic


class TopicMLP(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.fc1, self.fc2, self.out = nn.Linear(VOCAB, 64), nn.Linear(64, 64), nn.Linear(64, TOPICS)
        if bug == "hidden_zero_init":
            nn.init.zeros_(self.fc2.weight), nn.init.zeros_(self.fc2.bias)  # BUG hidden_zero_init: fc2 all zeros

    def forward(self, x):
        return self.out(F.relu(self.fc2(F.relu(self.fc1(x)))))


class TopicsTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none"):
        self.bug = check_bug(bug, BUGS, "topics")
        rng = np.random.default_rng(0)
        (ct, lt, yt), (cv, lv, yv) = draw(N_TRAIN, rng), draw(N_VAL, rng)
        ft, fv = np.log1p(100 * ct / lt[:, None]), np.log1p(100 * cv / lv[:, None])
        mean, std = ft.mean(0), ft.std(0) + 1e-6
        ft, fv = (ft - mean) / std, (fv - mean) / std
        if self.bug == "raw_counts":
            ft, fv = ct, cv  # BUG raw_counts: the raw word counts of 300..1500-word documents as the features
        if self.bug == "train_labels_rolled":
            yt = np.roll(yt, 1)  # BUG train_labels_rolled: each training document gets the previous one's topic
        self.x_train, self.x_val = torch.tensor(ft, dtype=torch.float32), torch.tensor(fv, dtype=torch.float32)
        self.y_train, self.y_val = torch.tensor(yt), torch.tensor(yv)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, N_TRAIN)
        x, y = self.x_train[:n], self.y_train[:n]
        model = TopicMLP(self.bug)

        def loss(model, b):
            logits = model(b[0])
            if self.bug == "nll_on_probabilities":
                return F.nll_loss(logits.softmax(-1), b[1])  # BUG nll_on_probabilities: probabilities, not log
            return F.cross_entropy(logits, b[1])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, xs, ys in (("train", x[:1000], y[:1000]), ("val", self.x_val, self.y_val)):
                    xs, ys = on_device_of(model, xs), on_device_of(model, ys)
                    logits = model(xs)
                    out[f"{split}/loss"] = F.cross_entropy(logits, ys).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == ys).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: (x[idx], y[idx]), loss=loss,
                       evaluate=evaluate, chance_loss=math.log(TOPICS), extras={"y_val": self.y_val},
                       forward=lambda model, b: model(b[0]), targets=lambda b: b[1])
