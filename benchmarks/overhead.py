"""What does the orchestrator cost per step? A stage vs a bare hand-written PyTorch loop.

Same model (the digits MLP), same data, same batches, same number of steps, and the same
evaluations (a hand-written loop checks validation accuracy too); the stage adds TensorBoard
logging, goal and plateau checks, checkpoints and, in the last row, every default diagnostic.
Runs alternate, in an order reversed at every repeat (a row's place in a fixed order moved its time
by ~3%, which would be read as overhead); the ratio of medians, the ratio of the fastest runs and the
median of the paired ratios (each repeat's run over that repeat's bare run, which cancels slow drifts
in the load) are all reported, since the machine is shared and noisy. The last line adds to the stage's ratio
the time spent inside the diagnostics' own hooks, timed as they run: on a loaded machine that share
is steadier than a difference of two noisy totals (timed in a run of its own, so that the timers'
cost is not in the rows).

    .venv/bin/python benchmarks/overhead.py [--steps 3000] [--repeats 11] [--hidden 128]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestrator import diagnostics  # noqa: E402
from orchestrator.config import LogConfig, OptimConfig, RunConfig  # noqa: E402
from orchestrator.ladder import Goal, Stage  # noqa: E402
from orchestrator.sinks import Sinks  # noqa: E402
from orchestrator.tb import TensorBoardSink  # noqa: E402
from orchestrator.trainer import StageRun, TrainSettings, train  # noqa: E402
from stages.digits import DigitsTask  # noqa: E402

EVAL_EVERY = 50
clock = time.perf_counter  # --cpu-time switches to this process's CPU time (robust to a busy machine)


def bare_loop(task: DigitsTask, steps: int, batch_size: int, seed: int) -> float:
    torch.manual_seed(seed)
    problem = task.build({}, seed)
    model, x, y = problem.model, task.x_train, task.y_train
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    perm, pos = torch.randperm(len(x), generator=gen), 0
    start = clock()
    for it in range(1, steps + 1):
        if pos + batch_size > len(x):
            perm, pos = torch.randperm(len(x), generator=gen), 0
        idx = perm[pos:pos + batch_size]
        pos += batch_size
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if it % EVAL_EVERY == 0:
            model.eval()
            with torch.no_grad():
                problem.evaluate(model)
            model.train()
    return clock() - start


def stage_run(task: DigitsTask, steps: int, batch_size: int, seed: int, with_diagnostics: bool,
              log_every: int = LogConfig.every, time_hooks: bool = False) -> float:
    torch.manual_seed(seed)
    problem = task.build({}, seed)
    stage = Stage("bench", Goal("val/acc", 2.0), knobs={"subset": len(task.x_train)}, budget=steps)
    settings = TrainSettings(budget=steps, lr=1e-3, batch_size=batch_size, optim=OptimConfig(), seed=seed,
                             eval_every=EVAL_EVERY, patience=0, log_every=log_every,
                             histograms_every=LogConfig.histograms_every)  # the CLI's default logging
    cfg = RunConfig(task=None)
    monitors = diagnostics.monitors_for(cfg, stage, problem) if with_diagnostics else []
    for m in monitors if time_hooks else []:  # a run of its own: the wrappers' cost stays out of the rows
        for name in ("on_start", "after_backward", "on_eval", "on_end"):
            if hasattr(m, name):
                setattr(m, name, timed(getattr(m, name)))
    HOOK_SECONDS[0] = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        sinks = Sinks([TensorBoardSink(Path(tmp) / "tb")])
        sinks.stage_started(stage, 0)
        run = StageRun(stage=stage, problem=problem, settings=settings, sinks=sinks,
                       ckpt_dir=Path(tmp) / "ckpt", monitors=monitors)
        start = clock()
        outcome = train(run)
        elapsed = clock() - start
        sinks.close()
    assert outcome.iterations == steps
    return elapsed


HOOK_SECONDS = [0.0]  # time spent inside the diagnostics' hooks in the last stage_run


def timed(hook):
    def run_hook(*args, **kwargs):
        start = clock()
        try:
            return hook(*args, **kwargs)
        finally:
            HOOK_SECONDS[0] += clock() - start
    return run_hook


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=11)  # the machines are noisy: a median of 11 pairs
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: least noise on a shared machine)")
    ap.add_argument("--cpu-time", action="store_true", help="time CPU seconds of this process, not wall")
    ap.add_argument("--log-every", type=int, default=LogConfig.every)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.cpu_time:
        global clock
        clock = time.process_time
    task = DigitsTask(hidden=args.hidden)
    rows = {"bare PyTorch loop": [], "stage, default logging": [], "stage + default diagnostics": []}
    stage_run(task, 200, args.batch_size, 0, True)  # warm up allocator and imports
    hooks = []
    for r in range(args.repeats):
        runs = [("bare PyTorch loop", lambda: bare_loop(task, args.steps, args.batch_size, r)),
                ("stage, default logging", lambda: stage_run(task, args.steps, args.batch_size, r, False,
                                                             args.log_every)),
                ("stage + default diagnostics", lambda: stage_run(task, args.steps, args.batch_size, r, True,
                                                                  args.log_every))]
        # the order alternates (ABC, CBA, ...): in a fixed order the stage's own loop, without sinks or monitors,
        # measured 1.036x the bare loop it followed, and 1.003x when the order alternated
        for name, timed_run in runs if r % 2 == 0 else runs[::-1]:
            rows[name].append(timed_run())
        stage_run(task, args.steps, args.batch_size, r, True, args.log_every, time_hooks=True)
        hooks.append(HOOK_SECONDS[0])
    base = statistics.median(rows["bare PyTorch loop"])
    fastest = min(rows["bare PyTorch loop"])
    print(f"digits MLP (hidden {args.hidden}), {args.steps} steps, batch {args.batch_size}, "
          f"eval every {EVAL_EVERY}, log every {args.log_every}, median of {args.repeats}, "
          f"torch threads {torch.get_num_threads()}, {'CPU' if args.cpu_time else 'wall'} time")
    print(f"{'':30} {'seconds':>8} {'ms/step':>8} {'ratio':>6} {'ratio of fastest runs':>22} {'paired ratio':>13}")
    for name, times in rows.items():
        t = statistics.median(times)
        paired = statistics.median(a / b for a, b in zip(times, rows["bare PyTorch loop"]))
        print(f"{name:30} {t:8.3f} {1000 * t / args.steps:8.3f} {t / base:6.3f} {min(times) / fastest:22.3f} "
              f"{paired:13.3f}")
    logging = statistics.median(a / b for a, b in zip(rows["stage, default logging"], rows["bare PyTorch loop"]))
    share = statistics.median(h / b for h, b in zip(hooks, rows["bare PyTorch loop"]))
    print(f"diagnostics' hooks: {1000 * statistics.median(hooks):.1f} ms per stage = {share:.3f} of the bare loop; "
          f"logging ratio + hooks = {logging + share:.3f}")


if __name__ == "__main__":
    main()
