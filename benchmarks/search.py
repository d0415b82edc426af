"""Does the search pay? Random vs grid search, and what parallel trials and Ray buy.

(1) Random search vs a grid of the same number of trials over LR x init scale, on a stage where both
    matter (validation accuracy 0.95 on all digits from fresh weights in a tight budget of 40 iterations):
    over seeds, how often each finds a setting that converges. The grid uses cell-centred points of the same box.
(2) The wall time of the same trials (fixed work: an unreachable goal, the whole budget) with
    search.parallel=1 and 2, with the local executor and with Ray (a local Ray instance), in one run.
    The target is >= 1.6x on 2 cores.
(3) Ray's cost per trial over local: its start-up once, and the difference per trial.

    .venv/bin/python benchmarks/search.py [--seeds 10] [--trials 9] [--timed 8] [--repeats 3]
                                          [--skip-ray] [--only quality|speed]

Runs trials with the search's own code (orchestrator.search.trial.run_trial and the executors); no
Optuna study is involved in (2) and (3), so they time the executors alone.
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import optuna  # noqa: E402

from orchestrator.config import RunConfig  # noqa: E402
from orchestrator.ladder import Goal, Stage  # noqa: E402
from orchestrator.search import executors, space  # noqa: E402
from orchestrator.search.trial import TrialSpec, run_trial  # noqa: E402

LR_BOX, SCALE_BOX = (1e-4, 1.0), (0.1, 10.0)
optuna.logging.set_verbosity(optuna.logging.WARNING)


def config(budget_evals: int = 10) -> RunConfig:
    cfg = RunConfig(task={"_target_": "stages.digits.DigitsTask", "hidden": 128})
    cfg.ladder.eval_every, cfg.ladder.patience = 10, 0
    cfg.log.every, cfg.log.console = 10, False
    cfg.diagnostics.start.enabled = False  # the same checks for every setting: they time nothing we compare
    return cfg


def spec(cfg: RunConfig, stage: Stage, params: dict, number: int, seed: int, out: Path, threads: int = 1) -> TrialSpec:
    trial_cfg = space.apply(cfg, params)
    return TrialSpec(number=number, params=params, cfg=trial_cfg, stage=stage, lr=params["optim.lr"], batch_size=32,
                     seed=seed * 1000 + number, warm_start=None, out_dir=str(out / f"t{number}"),
                     tb_dir=str(out / "tb" / f"t{number}"), journal="", study_name="", trial_id=0, threads=threads)


def random_vs_grid(seeds: int, trials: int) -> None:
    side = round(math.sqrt(trials))
    trials = side * side
    stage = Stage("full", Goal("val/acc", 0.95, "max"), {"subset": 1437}, budget=40)
    cfg = config()
    centres = [(i + 0.5) / side for i in range(side)]
    grid = [{"optim.lr": _log(LR_BOX, a), "optim.init_scale": _log(SCALE_BOX, b)} for a in centres for b in centres]
    dims = [space.Dimension("optim.lr", "log_uniform", LR_BOX),
            space.Dimension("optim.init_scale", "log_uniform", SCALE_BOX)]
    found = {"random": 0, "grid": 0}
    converged_share = {"random": [], "grid": []}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(seeds):
            study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
            drawn = [{d.key: d.suggest(study.ask()) for d in dims} for _ in range(trials)]
            for name, settings in (("random", drawn), ("grid", grid)):
                results = [run_trial(spec(cfg, stage, p, n, seed, Path(tmp) / name / str(seed)))
                           for n, p in enumerate(settings)]
                ok = sum(r["status"] == "converged" for r in results)
                found[name] += ok > 0
                converged_share[name].append(ok / trials)
            print(f"  seed {seed}: random {converged_share['random'][-1]:.0%} of trials converged, "
                  f"grid {converged_share['grid'][-1]:.0%}", flush=True)
    print(f"(1) {trials} trials over LR log [{LR_BOX[0]:g}, {LR_BOX[1]:g}] x init scale log "
          f"[{SCALE_BOX[0]:g}, {SCALE_BOX[1]:g}], budget {stage.budget} iterations, {seeds} seeds:")
    for name in ("random", "grid"):
        share = sum(converged_share[name]) / seeds
        print(f"    {name:6}: found a converging setting in {found[name]}/{seeds} seeds "
              f"({share:.0%} of its trials converged on average)")


STAGE_ITERATIONS = 3000  # ~2 s of compute per trial: the per-trial overheads (a process hop, a task built) stay small


def start(name: str, parallel: int):
    """An executor, ready: (executor, start-up seconds), timed until one tiny trial came back."""
    t = time.perf_counter()
    ex = executors.RayExecutor(None, cpus=1, gpus=0) if name == "ray" else executors.LocalExecutor(parallel)
    with tempfile.TemporaryDirectory() as tmp:
        stage = Stage("full", Goal("val/acc", 1.01, "max"), {"subset": 1437}, budget=1)
        ex.wait([ex.submit(spec(config(), stage, {"optim.lr": 0.01}, 999, 0, Path(tmp), ex.threads))])
    return ex, time.perf_counter() - t


def timed(ex, parallel: int, n: int) -> float:
    """Seconds for n trials with `parallel` in flight (fixed work: an unreachable goal, the whole budget)."""
    stage = Stage("full", Goal("val/acc", 1.01, "max"), {"subset": 1437}, budget=STAGE_ITERATIONS)
    cfg = config()
    cfg.ladder.eval_every = cfg.log.every = 100
    with tempfile.TemporaryDirectory() as tmp:
        begin = time.perf_counter()
        pending, done, i = [], 0, 0
        while done < n:
            while len(pending) < parallel and i < n:
                pending.append(ex.submit(spec(cfg, stage, {"optim.lr": 0.003}, i, 0, Path(tmp), ex.threads)))
                i += 1
            for handle, _ in ex.wait(pending):
                pending.remove(handle)
                done += 1
        return time.perf_counter() - begin


def speed(n: int, repeats: int, skip_ray: bool) -> None:
    """Runs alternate (local 1, local 2, ray 1, ray 2, again): the machine's load drifts; medians are reported."""
    names = ("local",) + (() if skip_ray else ("ray",))
    ready, startup = {}, {}
    for name in names:
        if name == "local":
            for parallel in (1, 2):
                ready[name, parallel], startup[name, parallel] = start(name, parallel)
        else:
            ex, startup[name, 1] = start(name, 1)
            ready[name, 1] = ready[name, 2] = ex  # one Ray instance; the driver keeps 1 or 2 tasks in flight
            startup[name, 2] = startup[name, 1]
    times = {k: [] for k in ready}
    for r in range(repeats):
        for key in ready:
            times[key].append(timed(ready[key], key[1], n))
            print(f"  repeat {r}: {key[0]} parallel={key[1]}: {n} trials {times[key][-1]:.1f}s", flush=True)
    threads = {k: ex.threads for k, ex in ready.items()}
    for ex in {id(e): e for e in ready.values()}.values():
        ex.close()
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"(2) {n} trials of {STAGE_ITERATIONS} iterations each, median of {repeats} (cores: {executors.cores()}, "
          f"torch threads per local trial: {threads['local', 1]} at parallel=1, {threads['local', 2]} at parallel=2):")
    for name in names:
        print(f"    {name}: parallel=1 {med[name, 1]:.1f}s, parallel=2 {med[name, 2]:.1f}s: "
              f"speed-up {med[name, 1] / med[name, 2]:.2f}x (target >= 1.6x)")
    if "ray" in names:
        per = {k: v / n for k, v in med.items()}
        print(f"(3) Ray's cost over local: start-up {startup['ray', 1]:.1f}s vs {startup['local', 1]:.1f}s "
              f"(local, parallel=1) once; per trial {1000 * (per['ray', 1] - per['local', 1]):+.0f} ms at parallel=1, "
              f"{1000 * (per['ray', 2] - per['local', 2]):+.0f} ms at parallel=2 "
              f"(local: {per['local', 1]:.2f}s per trial)")


def _log(box: tuple, u: float) -> float:
    return math.exp(math.log(box[0]) + u * (math.log(box[1]) - math.log(box[0])))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--trials", type=int, default=9, help="per search (a square, for the grid)")
    ap.add_argument("--timed", type=int, default=8, help="trials timed in (2) and (3)")
    ap.add_argument("--repeats", type=int, default=3, help="alternating repeats of (2) and (3)")
    ap.add_argument("--skip-ray", action="store_true")
    ap.add_argument("--only", choices=("quality", "speed"), default=None)
    args = ap.parse_args()
    if args.only != "speed":
        random_vs_grid(args.seeds, args.trials)
    if args.only != "quality":
        speed(args.timed, args.repeats, args.skip_ray)


if __name__ == "__main__":
    main()
