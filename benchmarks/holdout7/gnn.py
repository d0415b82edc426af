"""Held-out-7 family 1: a graph convolutional network classifying small generated graphs by their family.

Each graph has 8..16 nodes (padded to 16 with a node mask) and comes from one of 4 families: a cycle, a star, an
Erdos-Renyi graph (p = 0.35), two cliques joined by one edge. Node features: a constant 1, the node's degree over
the graph's largest degree, and a little noise. Three hand-written GCN layers, each D^-1/2 (A + I) D^-1/2 H W with
a ReLU, then a masked mean over the real nodes and a linear head. Dict batches `adj`, `x`, `mask`, `label`.
Each bug is one line, marked `# BUG <name>`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.bugsuite.common import check_bug, evaluating, subset_size
from orchestrator.task import Problem

BUGS = ("none", "graphs_shuffled_alone", "no_self_loops", "degree_over_batch_max")
CLASSES, MIN_NODES, MAX_NODES, WIDTH = 4, 8, 16, 32
TRAIN_SEED, VAL_SEED = 0, 1


def one_graph(family: int, n: int, g: torch.Generator) -> torch.Tensor:
    adj = torch.zeros(MAX_NODES, MAX_NODES)
    idx = torch.arange(n)
    if family == 0:  # cycle
        adj[idx, (idx + 1) % n] = 1
    elif family == 1:  # star
        adj[0, 1:n] = 1
    elif family == 2:  # Erdos-Renyi
        adj[:n, :n] = (torch.rand(n, n, generator=g) < 0.35).float().triu(1)
    else:  # two cliques joined by an edge
        half = n // 2
        adj[:half, :half] = 1
        adj[half:n, half:n] = 1
        adj[half - 1, half] = 1
    adj = ((adj + adj.T) > 0).float()
    adj.fill_diagonal_(0)
    perm = torch.cat([torch.randperm(n, generator=g), torch.arange(n, MAX_NODES)])  # node order says nothing
    return adj[perm][:, perm]


def graphs(count: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    label = torch.randint(0, CLASSES, (count,), generator=g)
    size = torch.randint(MIN_NODES, MAX_NODES + 1, (count,), generator=g)
    adj = torch.stack([one_graph(int(c), int(n), g) for c, n in zip(label, size)])
    mask = torch.arange(MAX_NODES) < size[:, None]
    return {"adj": adj, "mask": mask, "noise": 0.1 * torch.randn(count, MAX_NODES, 1, generator=g), "label": label}


class GCN(nn.Module):
    def __init__(self, bug: str):
        super().__init__()
        self.bug = bug
        self.layers = nn.ModuleList([nn.Linear(3, WIDTH), nn.Linear(WIDTH, WIDTH), nn.Linear(WIDTH, WIDTH)])
        self.head = nn.Linear(WIDTH, CLASSES)

    def forward(self, adj, noise, mask):  # adj (B, N, N), noise (B, N, 1), mask (B, N)
        m = mask[..., None].float()
        degree = adj.sum(-1, keepdim=True)
        scaled = degree / degree.amax(1, keepdim=True).clamp_min(1)  # each graph's own largest degree
        if self.bug == "degree_over_batch_max":
            scaled = degree / degree.max()  # BUG degree_over_batch_max: scaled by the batch's largest degree
        h = torch.cat([torch.ones_like(degree), scaled, noise], -1) * m
        a = adj + torch.eye(MAX_NODES)  # self loops: a padded node is isolated with degree 1, masked out below
        if self.bug == "no_self_loops":
            a = adj  # BUG no_self_loops: A, not A + I: a padded (isolated) node has degree 0 -> 0 ** -0.5 = inf
        d = a.sum(-1).pow(-0.5)
        norm = d[..., None] * a * d[:, None, :]
        for layer in self.layers:
            h = F.relu(norm @ layer(h)) * m
        return self.head(h.sum(1) / m.sum(1))


class GNNTask:
    metrics = ("train/loss", "train/acc", "val/loss", "val/acc")

    def __init__(self, bug: str = "none", n_train: int = 2000, n_val: int = 500):
        self.bug = check_bug(bug, BUGS, "gnn")
        self.train, self.val = graphs(n_train, TRAIN_SEED), graphs(n_val, VAL_SEED)
        if bug == "graphs_shuffled_alone":  # the graphs permuted, their labels not
            p = torch.randperm(n_train, generator=torch.Generator().manual_seed(5))
            self.train.update({k: self.train[k][p] for k in ("adj", "mask", "noise")})  # BUG graphs_shuffled_alone

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        torch.manual_seed(seed)
        n = subset_size(knobs, len(self.train["label"]))
        train = {k: v[:n] for k, v in self.train.items()}
        model = GCN(self.bug)

        def forward(model, batch):
            return model(batch["adj"], batch["noise"], batch["mask"])

        def evaluate(model):
            out = {}
            with evaluating(model):
                for split, data in (("train", train), ("val", self.val)):
                    logits = forward(model, data)
                    out[f"{split}/loss"] = F.cross_entropy(logits, data["label"]).item()
                    out[f"{split}/acc"] = (logits.argmax(-1) == data["label"]).float().mean().item()
            return out

        return Problem(model=model, train_size=n, get_batch=lambda idx: {k: v[idx] for k, v in train.items()},
                       loss=lambda model, batch: F.cross_entropy(forward(model, batch), batch["label"]),
                       evaluate=evaluate, chance_loss=math.log(CLASSES), forward=forward,
                       targets=lambda batch: batch["label"])
