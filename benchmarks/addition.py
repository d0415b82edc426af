"""The addition ladder vs training the hardest length directly, with and without `mix`, over seeds.

    python benchmarks/addition.py                    # seeds 0 1 2, the three arms, two runs at a time
    python benchmarks/addition.py --seeds 0 --jobs 1 -- task.max_digits=4 knobs.digits.hard=4

Arms, each through the CLI with default settings (`+task=addition`):
- ladder: the task's ladder (memorise 10 and 100 problems, then operand lengths 1 .. hard) without mix;
- ladder+mix: the same with `mix` (--mix, default 0.2, as the task file has it) on every length stage
  after the first, so each batch replays that share of problems of the earlier lengths;
- direct: the hardest stage alone, from fresh weights, with the iterations the plain ladder used in all
  as its budget (no plateau stop, no LR probe: the ladder's LR).
Per run: converged or not, iterations (the ladder's total), the final weights' test-split accuracy on
the hardest length and on the shorter ones (forgetting), wall time. Extra arguments after `--` are Hydra
overrides for every run.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.ladder_run import run_ladder  # noqa: E402


def cli(run_dir: Path, *overrides: str) -> dict:
    run = run_ladder("addition", run_dir, "threads=1", *overrides)
    return {**run.ladder, "wall": run.wall}

def test_scores(run_dir: Path, stage: dict) -> dict:
    """Exact-answer accuracy of a stage's final weights on the test split: its length, and each shorter one."""
    import torch
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from stages.addition.task import scores

    cfg = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    task = instantiate(cfg.task)
    problem = task.build(stage["knobs"], seed=0)
    ckpt = run_dir / "checkpoints" / stage["name"] / "final.pt"
    problem.model.load_state_dict(torch.load(ckpt, map_location="cpu", weights_only=True)["model"])
    problem.model.eval()
    digits = int(stage["knobs"]["digits"])
    with torch.no_grad():
        hard = scores(problem.model, task.level(digits)["test"], 10 ** 6)["seq_acc"]
        shorter = [scores(problem.model, task.level(d)["test" if d > 1 else "train"], 10 ** 6)["seq_acc"]
                   for d in range(1, digits)]
    return {"test": hard, "shorter": sum(shorter) / len(shorter) if shorter else float("nan")}


def length_stages(overrides: list[str]) -> list[str]:
    """The task's length stages (digits_*), in ladder order, from the config the runs will compose."""
    from hydra import compose, initialize_config_dir

    from orchestrator import config

    config.register()
    with initialize_config_dir(str(ROOT / "conf"), version_base=None):
        cfg = compose("config", ["+task=addition", *overrides])
    return [name for name in cfg.ladder.stages if name.startswith("digits_")]


def one(arm: str, seed: int, tmp: Path, extra: list[str], mix: float, budget: int | None,
        names: list[str]) -> dict:
    run = tmp / f"{arm}_{seed}"
    hard = names[-1]
    if arm == "direct":
        drop = [f"~ladder.stages.{n}" for n in ("overfit_10", "overfit_100", *names[:-1])]
        doc = cli(run, f"seed={seed}", *extra, *drop, f"ladder.stages.{hard}.mix=0", f"ladder.stages.{hard}.after=[]",
                  f"ladder.stages.{hard}.budget={budget}", f"ladder.stages.{hard}.probe=false", "ladder.patience=0")
    else:
        share = mix if arm == "ladder+mix" else 0.0
        mixes = [f"ladder.stages.{n}.mix={share}" for n in names[1:]]
        doc = cli(run, f"seed={seed}", *extra, *mixes)
    final = next(s for s in doc["stages"] if s["name"] == hard)
    out = {"arm": arm, "seed": seed, "converged": doc["status"] == "converged",
           "iterations": sum(s["iterations"] for s in doc["stages"]), "hard_iterations": final["iterations"],
           "best": final["best"], "wall": doc["wall"], "stages": [(s["name"], s["status"], s["iterations"])
                                                                   for s in doc["stages"]]}
    if (run / "checkpoints" / hard / "final.pt").exists():
        out.update(test_scores(run, final))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--mix", type=float, default=0.2)
    ap.add_argument("--jobs", type=int, default=2, help="runs at once (each with one torch thread)")
    ap.add_argument("overrides", nargs="*", help="Hydra overrides for every run (after --)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="addition-bench-"))
    t0 = time.perf_counter()
    names = length_stages(args.overrides)
    with ThreadPoolExecutor(args.jobs) as pool:
        ladders = list(pool.map(lambda a: one(*a), [(arm, s, tmp, args.overrides, args.mix, None, names)
                                                     for s in args.seeds for arm in ("ladder", "ladder+mix")]))
        # direct: the plain ladder's total iterations for the same seed
        totals = {r["seed"]: r["iterations"] for r in ladders if r["arm"] == "ladder"}
        direct = list(pool.map(lambda s: one("direct", s, tmp, args.overrides, args.mix, totals[s], names), args.seeds))
    rows = ladders + direct
    print(f"{'arm':<11}{'seed':>5}{'goal':>6}{'iters':>7}{'hard':>7}{'best':>7}{'test':>7}{'shorter':>8}{'wall':>7}")
    for r in sorted(rows, key=lambda r: (r["arm"], r["seed"])):
        print(f"{r['arm']:<11}{r['seed']:>5}{'yes' if r['converged'] else 'no':>6}{r['iterations']:>7}"
              f"{r['hard_iterations']:>7}{r['best'] or 0:>7.3f}{r.get('test', float('nan')):>7.3f}"
              f"{r.get('shorter', float('nan')):>8.3f}{r['wall']:>6.0f}s")
    print("\nper arm (mean over seeds): success rate, iterations, test accuracy on the hard length, on shorter ones")
    for arm in ("ladder", "ladder+mix", "direct"):
        rs = [r for r in rows if r["arm"] == arm]
        mean = lambda k: statistics.fmean(r.get(k, float("nan")) for r in rs)  # noqa: E731
        print(f"{arm:<11} {sum(r['converged'] for r in rs)}/{len(rs)}  iterations {mean('iterations'):.0f}  "
              f"test {mean('test'):.3f}  shorter {mean('shorter'):.3f}")
    for r in rows:
        if not r["converged"]:
            print(f"  {r['arm']} seed {r['seed']}: " + ", ".join(f"{n} {s} {i}" for n, s, i in r["stages"]))
    print(f"\nwall time {time.perf_counter() - t0:.0f} s; run directories in {tmp}")


if __name__ == "__main__":
    main()
