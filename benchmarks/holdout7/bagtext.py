"""Held-out-7 family 4: an nn.EmbeddingBag (mean) text classifier over flat token ids plus offsets.

Documents of 5..60 words over a 200-word vocabulary, 4 classes: each word is, with probability 0.35, one of its
class's 15 topic words, else any word. No padding: a batch is the documents' tokens concatenated in one flat
tensor, `offsets` the start of each document in it (so an example's tokens are not a row of a tensor). The model:
EmbeddingBag(mode="mean") to 32, the document's length over the longest (60) appended, a 64-unit ReLU layer and a
linear head. Dict batches `tokens`, `offsets`, `lengths`, `label`. Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "offsets_from_sorted_lengths", "nll_on_logits", "embedding_frozen", "raw_length_feature")
VOCAB, CLASSES, TOPIC, TOPIC_P, MIN_LEN, MAX_LEN, EMBED, HIDDEN = 200, 4, 15, 0.35, 5, 60, 32, 64
TRAIN_SEED, VAL_SEED, TOPIC_SEED = 0, 1, 7


class Corpus:
    """Documents stored flat: `words` all tokens end to end, `starts` / `lengths` each document's slice."""

    def __init__(self, n: int, seed: int):
        topics = torch.randperm(VOCAB, generator=torch.Generator().manual_seed(TOPIC_SEED))[:CLASSES * TOPIC]
        topics = topics.view(CLASSES, TOPIC)
        g = torch.Generator().manual_seed(seed)
        self.label = torch.randint(0, CLASSES, (n,), generator=g)
        self.lengths = torch.randint(MIN_LEN, MAX_LEN + 1, (n,), generator=g)
        doc = torch.repeat_interleave(torch.arange(n), self.lengths)
        on_topic = torch.rand(len(doc), generator=g) < TOPIC_P
        topic_word = topics[self.label[doc], torch.randint(0, TOPIC, (len(doc),), generator=g)]
        self.words = torch.where(on_topic, topic_word, torch.randint(0, VOCAB, (len(doc),), generator=g))
        self.starts = torch.cat([torch.zeros(1, dtype=torch.long), self.lengths.cumsum(0)[:-1]])

    def __len__(self):
        return len(self.label)

    def batch(self, idx: torch.Tensor, bug: str) -> dict[str, torch.Tensor]:
        lengths = self.lengths[idx]
        begin = torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)[:-1]])  # each document's start
        offsets = begin
        if bug == "offsets_from_sorted_lengths":  # lengths sorted "for speed", the tokens left in batch order
            offsets = F.pad(lengths.sort().values.cumsum(0)[:-1], (1, 0))  # BUG offsets_from_sorted_lengths
        within = torch.arange(int(lengths.sum())) - torch.repeat_interleave(begin, lengths)
        tokens = self.words[torch.repeat_interleave(self.starts[idx], lengths) + within]
        return {"tokens": tokens, "offsets": offsets, "lengths": lengths, "label": self.label[idx]}


class BagText(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.bag = nn.EmbeddingBag(VOCAB, EMBED, mode="mean")
        if bug == "embedding_frozen":
            self.bag.weight.requires_grad_(False)  # BUG embedding_frozen: left from a pretrained-embedding script
        self.hidden = nn.Linear(EMBED + 1, HIDDEN)
        self.head = nn.Linear(HIDDEN, CLASSES)

    def forward(self, tokens, offsets, lengths):
        length = lengths.float()[:, None] / MAX_LEN
        if self.bug == "raw_length_feature":
            length = lengths.float()[:, None]  # BUG raw_length_feature: a count up to 60 beside embeddings ~1
        h = torch.cat([self.bag(tokens, offsets), length], 1)
        return self.head(F.relu(self.hidden(h)))


class BagTextTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none", n_train: int = 2000, n_val: int = 500):
        self.bug = check_bug(bug, BUGS, "bagtext")
        self.train, self.val = Corpus(n_train, TRAIN_SEED), Corpus(n_val, VAL_SEED)

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.train))
        model = BagText(self.bug)
        train_all = self.train.batch(torch.arange(n), self.bug)
        val_all = self.val.batch(torch.arange(len(self.val)), self.bug)

        def forward(model, batch):
            return model(batch["tokens"], batch["offsets"], batch["lengths"])

        def loss(model, batch):
            if self.bug == "nll_on_logits":
                return F.nll_loss(forward(model, batch), batch["label"])  # BUG nll_on_logits: no log_softmax
            return F.cross_entropy(forward(model, batch), batch["label"])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, data in (("train", train_all), ("val", val_all)):
                    logits = forward(model, data)
                    out[f"{split}/loss"] = F.cross_entropy(logits, data["label"]).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == data["label"]).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: self.train.batch(idx, self.bug), loss=loss,
                       evaluate=evaluate, chance_loss=math.log(CLASSES), forward=forward,
                       targets=lambda batch: batch["label"])
