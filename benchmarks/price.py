"""The ladder's price when nothing is wrong: the whole ladder vs training its last stage directly.

    python benchmarks/price.py digits --seeds 0 1 2
    python benchmarks/price.py translation --seeds 0

For each seed, in one run each: the task's ladder through the CLI, then the ladder's last stage alone
from fresh weights (every other stage removed, its budget the ladder's total iterations, no plateau
stop, no LR probe, at the LR the ladder's last stage trained at). Prints the iterations, the CPU
seconds and the wall time of both, and their ratios (ladder / direct): the price of climbing the ladder.
Iterations of the early stages are cheaper than the last stage's (smaller batches, shorter sequences,
a sub-problem), so the CPU ratio is printed beside the iteration ratio. Extra Hydra overrides after `--`.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.ladder_run import run_ladder  # noqa: E402


def last_stage(doc: dict) -> dict:
    """The stage no other stage comes after (the real task)."""
    before = {a for s in doc["stages"] for a in s.get("after", [])}
    return next(s for s in reversed(doc["stages"]) if s["name"] not in before and not s.get("inserted"))


def one_seed(task: str, seed: int, tmp: Path, overrides: list[str]) -> dict:
    ladder = run_ladder(task, tmp / f"ladder{seed}", f"seed={seed}", *overrides)
    doc = ladder.ladder
    final = last_stage(doc)
    total = sum(s["iterations"] for s in doc["stages"])
    drop = [f"~ladder.stages.{s['name']}" for s in doc["stages"]
            if s["name"] != final["name"] and not s.get("inserted")]
    direct = run_ladder(task, tmp / f"direct{seed}", f"seed={seed}", *overrides, *drop,
                        f"ladder.stages.{final['name']}.after=[]", f"ladder.stages.{final['name']}.budget={total}",
                        f"ladder.stages.{final['name']}.probe=false", "ladder.patience=0",
                        f"optim.lr={final['lr']}", "search.trials=0")
    stage = direct.ladder["stages"][0]
    return {"seed": seed, "ladder_status": doc["status"], "ladder_iterations": total,
            "stages": {s["name"]: s["iterations"] for s in doc["stages"]},
            "direct_status": stage["status"], "direct_iterations": stage["iterations"],
            "ladder_cpu": ladder.cpu, "direct_cpu": direct.cpu, "ladder_wall": ladder.wall, "direct_wall": direct.wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("task", help="a built-in task: digits, translation, addition, detection")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    args = ap.parse_args(argv[:cut])
    args.overrides = argv[cut + 1:]  # Hydra overrides for both runs
    tmp = Path(tempfile.mkdtemp(prefix=f"price-{args.task}-"))
    rows = []
    print(f"{'seed':>4} {'ladder':>10} {'direct':>10} {'iter ratio':>10} {'CPU s':>14} {'CPU ratio':>9} "
          f"{'wall ratio':>10}  stages")
    for seed in args.seeds:
        r = one_seed(args.task, seed, tmp, args.overrides)
        rows.append(r)
        ok = r["ladder_status"] == "converged" and r["direct_status"] == "converged"
        ratio = r["ladder_iterations"] / r["direct_iterations"] if ok else float("nan")
        r["ratio"], r["cpu_ratio"] = ratio, r["ladder_cpu"] / r["direct_cpu"]
        r["wall_ratio"] = r["ladder_wall"] / r["direct_wall"]
        stages = " ".join(f"{k}:{v}" for k, v in r["stages"].items())
        if not ok:
            stages += f"  (not both converged: {r['ladder_status']}, {r['direct_status']})"
        print(f"{seed:>4} {r['ladder_iterations']:>10} {r['direct_iterations']:>10} {ratio:>10.2f} "
              f"{r['ladder_cpu']:>6.1f} / {r['direct_cpu']:<5.1f} {r['cpu_ratio']:>9.2f} {r['wall_ratio']:>10.2f}  "
              f"{stages}")
    if len(rows) > 1:
        def med(key):
            return statistics.median(r[key] for r in rows)
        print(f"median over {len(rows)} seeds: iterations {med('ratio'):.2f}x, CPU {med('cpu_ratio'):.2f}x, "
              f"wall {med('wall_ratio'):.2f}x")
    import shutil
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
