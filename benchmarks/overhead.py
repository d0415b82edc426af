"""What does the orchestrator cost per step? A stage vs a bare hand-written PyTorch loop.

Same model (the digits MLP), same data, same batches, same number of steps, and the same
evaluations (a hand-written loop checks validation accuracy too); the stage adds TensorBoard
logging, goal and plateau checks, checkpoints and, in the last row, every default diagnostic.
Runs go through the six orders of the three rows in turn (a row's place in a fixed order moved its
time by ~3%, which would be read as overhead); the ratio of medians, the ratio of the fastest runs and the
median of the paired ratios (each repeat's run over that repeat's bare run, which cancels slow drifts
in the load) are all reported, since the machine is shared and noisy. The last line adds to the stage's ratio
the time spent inside the diagnostics' own hooks, timed as they run: on a loaded machine that share
is steadier than a difference of two noisy totals (timed in a run of its own, so that the timers'
cost is not in the rows).

On a GPU (`--device cuda --precision 32|bf16|16-mixed`) both loops move each batch to the device, run the
forward pass under autocast and, for 16-mixed, scale the loss with a GradScaler; runs are timed in wall
seconds between two synchronisations. `--count-syncs` then runs each loop once more under PyTorch's
sync debug mode and prints the host syncs per 1000 steps, with the lines that asked for them: the stage
must not add one per step.

    .venv/bin/python benchmarks/overhead.py [--steps 3000] [--repeats 12] [--hidden 128] [--cpu-time]
    python benchmarks/overhead.py --device cuda --precision bf16 --count-syncs
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import itertools
import statistics
import sys
import tempfile
import time
import warnings
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
DEVICE, PRECISION = "cpu", "32"  # --device, --precision


def now() -> float:
    """The clock, once the GPU has finished what it was given (its work is asynchronous)."""
    if DEVICE != "cpu":
        torch.cuda.synchronize()
    return clock()


def bare_loop(task: DigitsTask, steps: int, batch_size: int, seed: int) -> float:
    torch.manual_seed(seed)
    problem = task.build({}, seed)
    model, x, y = problem.model.to(DEVICE), task.x_train, task.y_train
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    dtype = {"bf16": torch.bfloat16, "16-mixed": torch.float16}.get(PRECISION)
    scaler = torch.amp.GradScaler(DEVICE) if PRECISION == "16-mixed" else None
    gen = torch.Generator().manual_seed(seed)
    perm, pos = torch.randperm(len(x), generator=gen), 0
    start = now()
    for it in range(1, steps + 1):
        if pos + batch_size > len(x):
            perm, pos = torch.randperm(len(x), generator=gen), 0
        idx = perm[pos:pos + batch_size]
        pos += batch_size
        xb, yb = x[idx], y[idx]
        if DEVICE != "cpu":
            xb, yb = xb.to(DEVICE, non_blocking=True), yb.to(DEVICE, non_blocking=True)
        with torch.autocast(torch.device(DEVICE).type, dtype=dtype) if dtype else contextlib.nullcontext():
            loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        if scaler:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
        if it % EVAL_EVERY == 0:
            model.eval()
            with torch.no_grad():
                problem.evaluate(model)
            model.train()
    return now() - start


def stage_run(task: DigitsTask, steps: int, batch_size: int, seed: int, with_diagnostics: bool,
              log_every: int = LogConfig.every, time_hooks: bool = False) -> float:
    torch.manual_seed(seed)
    problem = task.build({}, seed)
    stage = Stage("bench", Goal("val/acc", 2.0), knobs={"subset": len(task.x_train)}, budget=steps)
    settings = TrainSettings(budget=steps, lr=1e-3, batch_size=batch_size, optim=OptimConfig(), seed=seed,
                             eval_every=EVAL_EVERY, patience=0, log_every=log_every,
                             histograms_every=LogConfig.histograms_every,  # the CLI's default logging
                             device=DEVICE, precision=PRECISION)
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
        start = now()
        outcome = train(run)
        elapsed = now() - start
        sinks.close()
    assert outcome.iterations == steps
    return elapsed


def count_syncs(run) -> tuple[int, collections.Counter]:
    """The host syncs a run asks for (PyTorch's sync debug mode warns at each), and the lines asking."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            run()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    syncs = [w for w in seen if "synchroniz" in str(w.message)]
    return len(syncs), collections.Counter(f"{Path(w.filename).name}:{w.lineno}" for w in syncs)


ORDERS = [lambda runs, p=p: [runs[i] for i in p] for p in itertools.permutations(range(3))]
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
    ap.add_argument("--repeats", type=int, default=12)  # noisy machines: a median of 12, each order twice
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: least noise on a shared machine)")
    ap.add_argument("--cpu-time", action="store_true", help="time CPU seconds of this process, not wall")
    ap.add_argument("--log-every", type=int, default=LogConfig.every)
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    ap.add_argument("--precision", default="32", choices=["32", "bf16", "16-mixed"])
    ap.add_argument("--count-syncs", action="store_true", help="(cuda) host syncs per 1000 steps, and where")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    global clock, DEVICE, PRECISION
    DEVICE, PRECISION = args.device, args.precision
    if args.cpu_time:
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
        # the order goes through the six permutations, so that every row runs first, second and last equally
        # often: in a fixed order the stage's own loop, without sinks or monitors, measured 1.036x the bare loop it
        # followed, and 1.003x when the order alternated (ABC, CBA: the middle row was then always in the middle)
        for name, timed_run in ORDERS[r % len(ORDERS)](runs):
            rows[name].append(timed_run())
        stage_run(task, args.steps, args.batch_size, r, True, args.log_every, time_hooks=True)
        hooks.append(HOOK_SECONDS[0])
    base = statistics.median(rows["bare PyTorch loop"])
    fastest = min(rows["bare PyTorch loop"])
    print(f"digits MLP (hidden {args.hidden}), {args.steps} steps, batch {args.batch_size}, "
          f"eval every {EVAL_EVERY}, log every {args.log_every}, median of {args.repeats}, "
          f"torch threads {torch.get_num_threads()}, {'CPU' if args.cpu_time else 'wall'} time, "
          f"device {DEVICE}" + (f" ({torch.cuda.get_device_name(DEVICE)})" if DEVICE != "cpu" else "") +
          f", precision {PRECISION}")
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
    if args.count_syncs and DEVICE != "cpu":
        for name, run in [("bare PyTorch loop", lambda: bare_loop(task, args.steps, args.batch_size, 0)),
                          ("stage + default diagnostics",
                           lambda: stage_run(task, args.steps, args.batch_size, 0, True, args.log_every))]:
            n, where = count_syncs(run)
            print(f"host syncs, {name}: {n} in {args.steps} steps = {1000 * n / args.steps:.1f} per 1000 steps; "
                  f"most: {', '.join(f'{k} x{v}' for k, v in where.most_common(8))}")


if __name__ == "__main__":
    main()
