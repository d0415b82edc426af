"""Non-finite loss or gradient (code `nonfinite`, plus the cause: see trace.py): trace it, then recover.

Detection reads the device-side window of StepStats every `nonfinite.check_every` iterations (never a
per-step sync). Recovery, at most `nonfinite.max_recoveries` times per stage:
1. restore the last good snapshot (weights + optimizer state, kept in memory, refreshed every
   `nonfinite.snapshot_every` iterations, or a tenth of the iterations so far when that is more, at a window
   whose losses and gradients were all finite);
2. replay the steps since the snapshot, one at a time, until one goes non-finite, and trace that batch
   (trace.trace_step: first module and first op, with the input range that triggered it);
3. restore the snapshot again, drop the pending gradients, divide the LR by `nonfinite.lr_factor`
   (run.base_lr too, so decay continues from the lower LR), and switch clipping on when gradient
   spikes were seen; training continues.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..diagnosis import Diagnosis
from ..task import same_sequence
from .common import num
from .config import NonFiniteConfig
from .trace import CAUSE_CODE, CAUSES, cause_text, op_place, trace_evaluation, trace_step


class NonFiniteCheck:
    def __init__(self, c: NonFiniteConfig, spikes=None):
        self.c = c
        self.spikes = spikes
        self.snapshot = None
        self.snapshot_step = 0
        self.recoveries = 0
        self.gave_up = False

    def on_start(self, run, stats) -> None:
        self.recoveries, self.gave_up, self.causes, self.bad_batch_seen = 0, False, set(), False
        self.gave_up_at = None
        self.take_snapshot(run, stats, run.iteration + 1)
        self.snapshot_untrained = run.iteration == 0  # the weights as the stage got them, before any update
        stats.batches = []

    def state_dict(self) -> dict:
        return {"snapshot": self.snapshot, "snapshot_step": self.snapshot_step, "recoveries": self.recoveries,
                "gave_up": self.gave_up, "gave_up_at": self.gave_up_at, "causes": sorted(self.causes)}

    def load_state_dict(self, state: dict) -> None:
        self.snapshot = (state["snapshot"][0], state["snapshot"][1])
        self.snapshot_step, self.recoveries = state["snapshot_step"], state["recoveries"]
        self.gave_up, self.causes = state["gave_up"], set(state["causes"])
        self.gave_up_at = state.get("gave_up_at")

    def take_snapshot(self, run, stats, step: int) -> None:
        """The state before `step`'s update: the weights now, and the optimizer state."""
        opt = run.optimizer.state_dict()  # its param_groups are new dicts of plain values already: the state is cloned
        self.snapshot = (_clone(run.model.state_dict()), {**opt, "state": _clone(opt["state"])})
        self.snapshot_step = step
        self.snapshot_untrained = False

    def restore(self, run) -> None:
        weights, opt = self.snapshot
        run.model.load_state_dict(weights)
        run.optimizer.load_state_dict(_clone(opt))

    def on_window(self, run, stats, first: int, losses: list, norms: list) -> None:
        bad = next((k for k, (loss, g) in enumerate(zip(losses, norms))
                    if not (math.isfinite(loss) and (g is None or math.isfinite(g)))), None)
        step = first + len(losses) - 1
        if bad is None:
            # every snapshot_every iterations, and a tenth of the stage so far once that is more: a long stage's
            # snapshots cost their copies, and a rollback keeps nine tenths of what it trained
            if step - self.snapshot_step >= max(self.c.snapshot_every, step // 10):
                self.take_snapshot(run, stats, step)
                stats.batches = stats.batches[-1:]  # the step in progress is applied after the snapshot
            return
        if not self.gave_up:
            self.handle(run, stats, first + bad, losses[bad], norms[bad])
        if self.gave_up and not run.stop and any(not bool(torch.isfinite(p).all()) for p in run.model.parameters()):
            # nothing left to recover (broken before any update, or recovered max_recoveries times already) and the
            # updates have made the weights NaN/inf: every later step is NaN too, so the stage ends here instead of
            # spending its budget (holdout34's NaN-at-init bugs trained 525 NaN iterations to a plateau)
            run.stop = (f"nonfinite: the loss is non-finite since iteration {self.gave_up_at} and the weights are "
                        "NaN/inf now; training on cannot change that")

    def on_eval(self, run, stats, metrics: dict) -> None:
        """Metrics that went non-finite before the training loss did (the stage stops on them): say why."""
        bad = [k for k, v in metrics.items() if isinstance(v, (int, float)) and not math.isfinite(v)]
        if not bad or self.recoveries or self.gave_up or any(d["code"] == "nonfinite" for d in run.stage.diagnoses):
            return
        from ..trainer import to_device
        params = [n for n, p in run.model.named_parameters() if not bool(torch.isfinite(p).all())]
        trace = {}
        if self.c.trace:
            idx = torch.arange(min(run.problem.train_size, run.settings.batch_size))
            trace = trace_step(run.model, run.problem.loss, to_device(run.problem.get_batch(idx), run.settings.device))
        if params:
            where = f": the weights themselves hold NaN/inf ({', '.join(params[:3])}), without a non-finite step"
        elif trace.get("module"):
            where = f"; on a training batch the first non-finite output is {trace['module']} ({trace.get('type')})"
        else:
            where = ": the weights and the training loss are finite, so the evaluation itself produces them"
            if self.c.trace:  # then watch the evaluation's own ops: where it does
                trace = trace_evaluation(run.model, run.problem.evaluate)
                op = trace.get("op") or {}
                if op:
                    where += f", first in op {op.get('op')}"
        self.name_cause(run, run.iteration, trace)
        run.diagnose(Diagnosis(
            "nonfinite", "error", f"the metrics {', '.join(bad[:3])} are non-finite at iteration {run.iteration}"
            f"{where}", iteration=run.iteration, evidence={"metrics": bad, "nonfinite_parameters": params[:10],
                                                           "trace": trace},
            fix=self.fix(trace) if trace.get("cause") else "look for an in-place write to the weights (e.g. under "
            "torch.no_grad) or a non-finite op in the evaluation code"))

    def handle(self, run, stats, bad_step: int, loss: float, norm: float) -> None:
        evidence = {"first_bad_iteration": bad_step, "loss": num(loss), "grad_norm": num(norm),
                    "snapshot_iteration": self.snapshot_step - 1, "lr": num(run.lr)}
        trace = self.replay(run, stats) if self.c.trace else {}
        if trace:
            evidence["trace"] = trace
        if self.snapshot_untrained and bad_step == self.snapshot_step and trace.get("replayed_steps") == 0:
            self.before_update(run, bad_step, evidence, trace)
            return
        if trace.get("batch_nonfinite"):
            self.bad_batch(run, bad_step, evidence, trace)
            return
        where = ""
        if trace.get("module"):
            rng = trace.get("input") or {}
            where = (f" first in {trace['phase']} of {trace['module']} ({trace['type']})"
                     + (f" on inputs in [{rng.get('min')}, {rng.get('max')}]" if rng.get("min") is not None else ""))
        op = trace.get("op") or {}
        if op:
            where += f", born in op {op.get('op')} ({op.get('phase')}) of {op.get('module') or trace.get('module')}"
        if trace.get("nonfinite_parameters"):
            where += f"; non-finite weights: {', '.join(trace['nonfinite_parameters'][:3])}"
        if self.recoveries >= self.c.max_recoveries:
            self.gave_up, self.gave_up_at = True, bad_step
            run.diagnose(Diagnosis(
                "nonfinite", "error", f"loss/gradient non-finite at iteration {bad_step}{where}; already recovered "
                f"{self.recoveries} time(s) (diagnostics.nonfinite.max_recoveries): giving up",
                iteration=bad_step, evidence=evidence, fix=self.fix(trace)))
            return
        # recover: last good weights, lower LR, clipping if the gradients spiked
        self.restore(run)
        for p in run.model.parameters():
            p.grad = None  # the step in progress applies nothing
        old = run.lr
        run.base_lr /= self.c.lr_factor
        run.set_lr(run.lr / self.c.lr_factor)
        applied = [f"restored the weights of iteration {self.snapshot_step - 1}",
                   f"LR {num(old)} -> {num(run.lr)}"]
        if self.spikes is not None and self.spikes.spikes and not run.clip_norm:
            run.clip_norm = self.spikes.clip_value()
            applied.append(f"gradient clipping at {num(run.clip_norm)}")
        self.recoveries += 1
        stats.batches = []
        self.snapshot_step = run.iteration + 1
        evidence["recovery"] = self.recoveries
        self.name_cause(run, bad_step, trace)  # the root cause first, then what was done about it
        if self.spikes is not None and self.spikes.spikes and not trace.get("cause") and not any(
                d["code"] == "exploding_gradients" and d["severity"] != "info" for d in run.stage.diagnoses):
            spikes = self.spikes.spikes
            run.diagnose(Diagnosis(
                "exploding_gradients", "warning", f"the loss went non-finite after {len(spikes)} gradient-norm "
                f"spike(s) (the largest {num(max(g / m for _, g, m in spikes))}x the running median): exploding "
                "gradients, the recurrent nets' classic", iteration=bad_step,
                evidence={"spikes": [{"iteration": i, "norm": num(g), "median": num(m)} for i, g, m in spikes[:10]]},
                fix="clip the global gradient norm (optim.clip_norm), or lower the LR"))
        run.diagnose(Diagnosis(
            "nonfinite", "warning", f"loss/gradient non-finite at iteration {bad_step}{where}",
            iteration=bad_step, evidence=evidence, fix=self.fix(trace), applied="; ".join(applied)))

    def name_cause(self, run, bad_step: int, trace: dict) -> None:
        """The specific cause the trace found (unstable_softmax, ...), once per stage."""
        cause = trace.get("cause")
        if CAUSE_CODE.get(cause, cause) == "nonfinite":  # no code of its own: the nonfinite diagnosis says it
            return
        if cause and not self.causes:  # the cause once per stage: later ones are its consequences
            self.causes.add(cause)
            op = trace.get("op") or {}
            run.diagnose(Diagnosis(
                cause, "error", cause_text(trace) + f" ({op_place(trace)})",
                iteration=bad_step, evidence={"op": op, "module": trace.get("module"), "type": trace.get("type"),
                                              "cause": cause},
                fix=CAUSES[cause][1]))

    def bad_batch(self, run, bad_step: int, evidence: dict, trace: dict) -> None:
        """The batch itself holds NaN/inf: restore the weights, keep the LR (no LR made this), say it once."""
        restored = f"restored the weights of iteration {self.snapshot_step - 1}"
        self.restore(run)
        for p in run.model.parameters():
            p.grad = None
        self.snapshot_step = run.iteration + 1
        if self.bad_batch_seen:
            return
        self.bad_batch_seen = True
        if any(d["code"] == "nonfinite" and (d.get("evidence") or {}).get("what") for d in run.stage.diagnoses):
            return  # the data check before the probe named the non-finite inputs already
        run.diagnose(Diagnosis(
            "nonfinite", "error", f"the batch of iteration {bad_step} holds {trace['batch_nonfinite']} NaN/inf "
            "value(s): the data, not the LR, makes the loss non-finite (weights restored, LR kept)",
            iteration=bad_step, evidence={**evidence, "what": "batch"},
            fix="clean the data (missing values, a division by zero or log of 0 in preprocessing)",
            applied=restored))

    def before_update(self, run, bad_step: int, evidence: dict, trace: dict) -> None:
        """The weights the stage started from give a non-finite loss/gradient on their first batch: no LR
        made this, so the LR is not lowered and there is nothing to roll back to (checks stop here)."""
        self.gave_up, self.gave_up_at = True, bad_step
        if any(d["code"] == "nonfinite" and (d.get("evidence") or {}).get("before_update")
               for d in run.stage.diagnoses):
            return  # the data/init checks (before the LR probe) reported it already, with its trace
        where = f" first in {trace['module']} ({trace.get('type')})" if trace.get("module") else ""
        op = trace.get("op") or {}
        if op:
            where += f", op {op.get('op')} ({op.get('phase')})"
        run.diagnose(Diagnosis(
            "nonfinite", "error", f"loss/gradient non-finite at iteration {bad_step}, on the weights the stage "
            f"started from, before any update{where}: no learning rate causes this, the LR is left as it is",
            iteration=bad_step, evidence={**evidence, "before_update": True}, fix=self.fix(trace)))
        self.name_cause(run, bad_step, trace)

    def fix(self, trace: dict) -> str:
        cause = trace.get("cause")
        if cause:
            return CAUSES[cause][1]
        return "lower the LR (see lr_too_high), clip gradients, or check the named module for overflow"

    def replay(self, run, stats) -> dict:
        """From the snapshot, redo the recorded steps one by one; trace the first that goes non-finite."""
        self.restore(run)
        model, problem = run.model, run.problem
        from ..trainer import to_device
        trace = {}
        try:
            for k in range(len(stats.batches)):
                idx = stats.batch_indices(k)
                batch = to_device(problem.get_batch(idx), run.settings.device)
                loss = problem.loss(model, batch)
                run.optimizer.zero_grad(set_to_none=True)
                finite = bool(torch.isfinite(loss.detach()).all())
                if finite:
                    loss.backward()
                    finite = all(bool(torch.isfinite(p.grad).all()) for p in model.parameters() if p.grad is not None)
                if not finite:
                    trace = trace_step(model, problem.loss, batch)
                    trace["replayed_steps"] = k
                    break
                if run.clip_norm:
                    nn.utils.clip_grad_norm_(model.parameters(), run.clip_norm)
                run.optimizer.step()
            else:
                trace = {"reproduced": False, "replayed_steps": len(stats.batches)}
        except Exception as e:  # best effort
            trace = {"trace_error": f"{type(e).__name__}: {e}"}
        return trace


def _clone(x):
    """A copy of a (nested) state dict: tensors cloned, containers rebuilt (deepcopy is ~5x slower)."""
    if isinstance(x, torch.Tensor):
        return x.detach().clone()
    if isinstance(x, dict):
        return {k: _clone(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return same_sequence(x, [_clone(v) for v in x])
    return x
