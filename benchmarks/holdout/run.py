"""Run the held-out bug suite through the CLI and score it, with benchmarks/bugsuite/run.py's own code.

    PYTHONPATH=. python benchmarks/holdout/run.py [--only FAMILY] [--bugs a,b] [--seeds 3] [--jobs 1]

Only the conf folder and the bug list differ from the tuned suite: the same commands, the same scoring
(run.py's `run_one`, `score`, `row`, `summary_table`), so the two suites' numbers compare directly.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import benchmarks.bugsuite.run as suite  # noqa: E402
from benchmarks.holdout.bugs import FAMILIES, find  # noqa: E402

suite.CONF = Path(__file__).resolve().parent / "conf"  # `suite.command` reads this global when it runs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=FAMILIES, help="one family")
    p.add_argument("--bugs", help="comma-separated bug ids or names; 'none' runs only the clean models")
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 for each clean family (0: no clean runs)")
    p.add_argument("--jobs", type=int, default=1, help="runs at a time")
    p.add_argument("--timeout", type=float, default=300, help="seconds before a run is stopped")
    p.add_argument("--runs", type=Path, default=None, help="folder for the run directories and results.json")
    a = p.parse_args(argv)

    families = [a.only] if a.only else list(FAMILIES)
    bugs = [] if a.bugs == "none" else find(a.bugs.split(",") if a.bugs else None, a.only)
    jobs = [suite.Job(f, s, None) for f in families for s in range(a.seeds)] + [suite.Job(b.family, 0, b) for b in bugs]
    runs = a.runs or ROOT / "outputs" / "holdout" / time.strftime("%Y-%m-%d_%H-%M-%S")
    runs.mkdir(parents=True, exist_ok=True)
    print(f"{len(jobs)} runs, {a.jobs} at a time, into {runs}", flush=True)
    print("| run | expected | warnings/errors in order | named | root first | cause | status | s | crash |")
    print("|---|---|---|---|---|---|---|---|---|", flush=True)
    outcomes = []
    with suite.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as pool:
        for o in pool.map(lambda j: suite.run_one(j, runs, a.timeout), jobs):
            outcomes.append(o)
            print(suite.row(o), flush=True)
    s = suite.score(outcomes)
    print()
    print(suite.summary_table(s))
    results = {"summary": s, "runs": [
        {"run": o.job.label, "family": o.job.family, "seed": o.job.seed, "bug": o.job.bug.name if o.job.bug else None,
         "named_codes": sorted(o.job.bug.named) if o.job.bug else [],
         "root_codes": sorted(o.job.bug.root) if o.job.bug else [], "alarms": o.alarms, "cause": o.cause,
         "status": o.status, "rc": o.rc, "wall_s": round(o.wall, 1), "crashed": o.crashed,
         "why_crash": o.why_crash, "timed_out": o.timed_out} for o in outcomes]}
    (runs / "results.json").write_text(json.dumps(results, indent=1))
    print(f"\nresults: {runs / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
