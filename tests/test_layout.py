"""Dataclass batches (orchestrator.layout): the trainer and the checks read them as dicts of their fields, the task's
own functions get the dataclass back."""
from __future__ import annotations

import json
from dataclasses import dataclass

import torch
import torch.nn.functional as F

import orchestrator
from diag_families import seq2seq_problem
from orchestrator.layout import dict_batches
from orchestrator.task import Problem


@dataclass
class Pair:
    src: torch.Tensor
    tgt_in: torch.Tensor
    tgt_out: torch.Tensor


def pair_problem(seed: int = 0, leak: bool = False) -> Problem:
    """diag_families' reversal seq2seq over Pair batches; `leak`: the decoder is fed the targets themselves."""
    problem = seq2seq_problem(seed)
    get, seen = problem.get_batch, []

    def get_batch(i):
        b = get(i)
        return Pair(b["src"], b["tgt_out"].clone() if leak else b["tgt_in"], b["tgt_out"])

    def loss(m, b):
        seen.append(type(b))
        return F.cross_entropy(m(b.src, b.tgt_in).reshape(-1, 12), b.tgt_out.reshape(-1))

    problem.get_batch, problem.loss = get_batch, loss
    problem.forward, problem.targets = (lambda m, b: m(b.src, b.tgt_in)), (lambda b: b.tgt_out)
    problem.extras["seen"] = seen
    return problem


def test_a_dataclass_batch_reads_as_a_dict_and_reaches_the_loss_as_itself():
    plain = seq2seq_problem()
    assert dict_batches(plain) is plain  # dict batches (and tensors, tuples) are left as they are
    problem = pair_problem()
    before = torch.get_rng_state()
    adapted = dict_batches(problem)
    assert torch.equal(torch.get_rng_state(), before)  # the look at one batch draws nothing
    batch = adapted.get_batch(torch.arange(4))
    assert isinstance(batch, dict) and list(batch) == ["src", "tgt_in", "tgt_out"]
    assert torch.isfinite(adapted.loss(adapted.model, batch)) and problem.extras["seen"] == [Pair]
    assert torch.equal(adapted.targets(batch), batch["tgt_out"])
    assert adapted.forward(adapted.model, batch).shape[:2] == batch["tgt_out"].shape


class PairTask:
    metrics = ("val/loss", "val/token_acc")

    def __init__(self, leak: bool = False):
        self.leak = leak

    def build(self, knobs, seed):
        return pair_problem(seed, self.leak)


LADDER = {"eval_every": 10, "budget": 200,
          "stages": {"only": {"goal": {"metric": "val/token_acc", "target": 0.99}}}}


def test_checks_run_on_dataclass_batches_end_to_end(tmp_path):
    # the future-leak check rebuilds the batch with the decoder input moved: on a dataclass batch it skipped itself
    orchestrator.run(PairTask(leak=True), ladder=LADDER, overrides={"log.console": False, "optim.lr": 0.01},
                     run_dir=tmp_path / "run")
    stages = json.loads((tmp_path / "run" / "ladder.json").read_text())["stages"]
    diagnoses = [d for s in (stages if isinstance(stages, list) else stages.values()) for d in s["diagnoses"]]
    assert any(d["code"] == "leakage" and d["severity"] != "info" for d in diagnoses), diagnoses
    assert not [d for d in diagnoses if d["code"] == "check_skipped" and "layout" in d["message"]]
