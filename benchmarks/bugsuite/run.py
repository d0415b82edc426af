"""Run the injected-bug suite through the CLI, as a new user would, and score the diagnoses.

    PYTHONPATH=. python benchmarks/bugsuite/run.py [--only FAMILY] [--bugs a,b] [--seeds 5] [--jobs 2]

Each bug runs once (seed 0), each clean family over `--seeds` seeds, all with default settings,
`--jobs` at a time, each with OMP_NUM_THREADS=1 and a timeout. Scores, from each run's ladder.json:
- named: some warning/error has a code in the bug's `named` set (bugs.py);
- root first: the first warning/error (by `time` when every diagnosis has one, else stage order then
  iteration; `check_skipped` and info ignored) has a code in the bug's `root` set;
- cause: the run's or a stage's `cause` (the most likely cause line), when the run has one, in `root`;
- false alarm: a clean run with any warning/error; crash: exit code not 0/3 or a traceback (a timeout
  is counted apart);
- slowest verdict: the longest wall time of a run.
Prints a row per run and the summary, and writes results.json into the runs folder.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONF = Path(__file__).resolve().parent / "conf"
sys.path.insert(0, str(ROOT))

from benchmarks.bugsuite.bugs import FAMILIES, VOCABULARY, Bug, find  # noqa: E402

ALARMS = ("warning", "error")
IGNORED = ("check_skipped",)


@dataclass
class Job:
    family: str
    seed: int
    bug: Bug | None  # None: the clean model
    conf: Path = CONF  # the suite's Hydra config folder (conf/task/<family>.yaml)
    overrides: tuple = ()  # --set: for every run (e.g. device=cuda precision=bf16)

    @property
    def label(self) -> str:
        return self.bug.id if self.bug else f"{self.family}/clean@{self.seed}"


@dataclass
class Outcome:
    job: Job
    rc: int | None
    wall: float
    status: str = "missing"            # ladder.json's status, or "missing"
    alarms: list[str] = field(default_factory=list)  # warning/error codes in time order
    cause: str | None = None
    crashed: bool = False
    why_crash: str = ""
    timed_out: bool = False
    first_alarm: float | None = None   # seconds from the launch to the first warning/error (console, ladder.json)


def command(job: Job, run_dir: Path) -> list[str]:
    bug = job.bug.task_bug if job.bug else "none"
    extra = list(job.bug.overrides) if job.bug else []
    return [sys.executable, "-m", "orchestrator", "--config-dir", str(job.conf), f"+task={job.family}",
            f"task.bug={bug}", f"seed={job.seed}", f"hydra.run.dir={run_dir}",
            *extra, *job.overrides]  # default settings otherwise, search included: a user's verdict comes after it


def ordered_alarms(doc: dict) -> list[dict]:
    """Warnings and errors in the order they happened."""
    found = []
    for stage_index, stage in enumerate(doc.get("stages", [])):
        for i, d in enumerate(stage.get("diagnoses", [])):
            found.append((stage_index, d.get("iteration", 0), i, d))
    for i, d in enumerate(doc.get("diagnoses", [])):  # run-level diagnoses, if a version keeps them
        found.append((-1, d.get("iteration", 0), i, d))
    diags = [x for x in found if x[3].get("severity") in ALARMS and x[3].get("code") not in IGNORED]
    if diags and all("time" in x[3] for x in diags):
        diags.sort(key=lambda x: x[3]["time"])
    else:
        diags.sort(key=lambda x: x[:3])
    return [x[3] for x in diags]


def cause_code(doc: dict) -> str | None:
    """The code of the most likely cause: the run's `cause`, else the last stage's that has one."""
    causes = [doc.get("cause")] + [s.get("cause") for s in reversed(doc.get("stages", []))]
    for c in causes:
        if not c:
            continue
        if isinstance(c, dict):
            c = c.get("code") or c.get("message") or json.dumps(c)
        words = re.findall(r"[a-z_0-9]+", str(c))
        for w in words:
            if w in VOCABULARY:
                return w
        return str(c)[:40]
    return None


def run_one(job: Job, runs: Path, timeout: float) -> Outcome:
    run_dir = runs / job.label.replace("/", "__").replace("@", "_s")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    start, launched = time.monotonic(), time.time()
    try:
        r = subprocess.run(command(job, run_dir), cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=timeout)
        rc, stderr = r.returncode, r.stderr
    except subprocess.TimeoutExpired as e:
        rc, stderr = None, (e.stderr or b"").decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
    out = Outcome(job, rc, time.monotonic() - start)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "stderr.txt").write_text(stderr)
    if rc is None:
        out.timed_out = True  # slow, not broken: counted apart and as the slowest verdict
    elif rc not in (0, 3):
        out.crashed, out.why_crash = True, f"exit {rc}"
    elif "Traceback (most recent call last)" in stderr:
        out.crashed, out.why_crash = True, "traceback on stderr"
    ladder = run_dir / "ladder.json"
    if ladder.exists():
        try:
            doc = json.loads(ladder.read_text())
        except json.JSONDecodeError:
            doc = {}
            out.crashed, out.why_crash = True, out.why_crash or "ladder.json unreadable"
        out.status = doc.get("status", "missing")
        alarms = ordered_alarms(doc)
        out.alarms = [d.get("code", "?") for d in alarms]
        if alarms and "time" in alarms[0]:  # when the user is first told something is wrong
            out.first_alarm = max(0.0, alarms[0]["time"] - launched)
        out.cause = cause_code(doc)
    return out


def score(outcomes: list[Outcome]) -> dict:
    bugged = [o for o in outcomes if o.job.bug]
    clean = [o for o in outcomes if not o.job.bug]
    with_cause = [o for o in bugged if o.cause]
    alarmed = [o for o in bugged if o.first_alarm is not None]
    return {
        "bugs": len(bugged),
        "bugs_named": sum(bool(set(o.alarms) & o.job.bug.named) for o in bugged),
        "root_first": sum(bool(o.alarms) and o.alarms[0] in o.job.bug.root for o in bugged),
        "bugs_with_cause": len(with_cause),
        "cause_is_root": sum(o.cause in o.job.bug.root for o in with_cause),
        "clean_runs": len(clean),
        "clean_false_alarms": sum(bool(o.alarms) for o in clean),
        "clean_not_converged": sum(o.status != "converged" for o in clean),
        "crashes": sum(o.crashed for o in outcomes),
        "timeouts": sum(o.timed_out for o in outcomes),
        "runs": len(outcomes),
        "slowest_s": round(max((o.wall for o in outcomes), default=0.0), 1),
        "slowest_run": max(outcomes, key=lambda o: o.wall).job.label if outcomes else None,
        "slowest_first_alarm_s": round(max(alarmed, key=lambda o: o.first_alarm).first_alarm, 1) if alarmed else None,
        "slowest_first_alarm_run": max(alarmed, key=lambda o: o.first_alarm).job.label if alarmed else None,
    }


def row(o: Outcome) -> str:
    if o.job.bug:
        named = "yes" if set(o.alarms) & o.job.bug.named else "NO"
        first = "yes" if o.alarms and o.alarms[0] in o.job.bug.root else "NO"
        expect = " or ".join(sorted(o.job.bug.named))  # no "|": it splits a markdown cell
    else:
        named = first = "-"
        expect = "(nothing above info)"
    crash = f"CRASH ({o.why_crash})" if o.crashed else "TIMEOUT" if o.timed_out else ""
    alarms = ",".join(dict.fromkeys(o.alarms)) or "-"
    return (f"| {o.job.label} | {expect} | {alarms} | {named} | {first} | {o.cause or '-'} | "
            f"{o.status} | {o.wall:.0f} | {crash} |")


def summary_table(s: dict) -> str:
    return "\n".join([
        "| measure | now |",
        "|---|---|",
        f"| bugs named (a code describing the bug, warning or error) | {s['bugs_named']} of {s['bugs']} |",
        f"| the first warning/error names the root cause | {s['root_first']} of {s['bugs']} |",
        f"| the most likely cause names the root cause | {s['cause_is_root']} of {s['bugs_with_cause']} "
        f"bug runs that have one |",
        f"| clean runs with a false warning/error ({s['clean_runs']} runs) | {s['clean_false_alarms']} |",
        f"| clean runs that did not converge | {s['clean_not_converged']} |",
        f"| runs that crash (exit not 0/3, traceback) | {s['crashes']} of {s['runs']} |",
        f"| runs stopped at the timeout | {s['timeouts']} |",
        f"| slowest verdict (the run's end) | {s['slowest_s']} s ({s['slowest_run']}) |",
        f"| slowest first warning/error of a bug run (from the launch) | {s.get('slowest_first_alarm_s')} s "
        f"({s.get('slowest_first_alarm_run')}) |",
    ])


def main(argv=None, families: tuple = FAMILIES, find_bugs=find, seeds: int = 5, name: str = "bugsuite",
         conf: Path = CONF) -> int:
    """The command line of a suite: this one, or another with its own families and bugs (benchmarks/holdout)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=families, help="one family")
    p.add_argument("--bugs", help="comma-separated bug ids or names (e.g. frozen_conv,lm/naive_softmax); "
                                  "'none' runs only the clean models")
    p.add_argument("--seeds", type=int, default=seeds, help="seeds 0..N-1 for each clean family (0: no clean runs)")
    p.add_argument("--first-seed", type=int, default=0, help="clean seeds from this one on (--seeds of them)")
    p.add_argument("--jobs", type=int, default=2, help="runs at a time")
    p.add_argument("--timeout", type=float, default=300, help="seconds before a run is stopped (counted as a timeout)")
    p.add_argument("--runs", type=Path, default=None, help="folder for the run directories and results.json")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a Hydra override for every run, e.g. --set device=cuda --set precision=bf16")
    a = p.parse_args(argv)

    chosen = [a.only] if a.only else list(families)
    bugs = [] if a.bugs == "none" else find_bugs(a.bugs.split(",") if a.bugs else None, a.only)
    seeds = range(a.first_seed, a.first_seed + a.seeds)
    extra = tuple(a.set)
    jobs = [Job(f, s, None, conf, extra) for f in chosen for s in seeds] + [Job(b.family, 0, b, conf, extra)
                                                                             for b in bugs]
    runs = a.runs or ROOT / "outputs" / name / time.strftime("%Y-%m-%d_%H-%M-%S")
    runs.mkdir(parents=True, exist_ok=True)
    print(f"{len(jobs)} runs, {a.jobs} at a time, into {runs}", flush=True)
    print("| run | expected | warnings/errors in order | named | root first | cause | status | s | crash |")
    print("|---|---|---|---|---|---|---|---|---|", flush=True)
    outcomes = []
    with ThreadPoolExecutor(max_workers=max(1, a.jobs)) as pool:
        for o in pool.map(lambda j: run_one(j, runs, a.timeout), jobs):
            outcomes.append(o)
            print(row(o), flush=True)
    s = score(outcomes)
    print()
    print(summary_table(s))
    results = {"summary": s, "runs": [
        {"run": o.job.label, "family": o.job.family, "seed": o.job.seed, "bug": o.job.bug.name if o.job.bug else None,
         "named_codes": sorted(o.job.bug.named) if o.job.bug else [],
         "root_codes": sorted(o.job.bug.root) if o.job.bug else [], "alarms": o.alarms, "cause": o.cause,
         "status": o.status, "rc": o.rc, "wall_s": round(o.wall, 1), "crashed": o.crashed,
         "why_crash": o.why_crash, "timed_out": o.timed_out,
         "first_alarm_s": None if o.first_alarm is None else round(o.first_alarm, 1)} for o in outcomes]}
    (runs / "results.json").write_text(json.dumps(results, indent=1))
    print(f"\nresults: {runs / 'results.json'}")
    return 0


def held_out_main(run_file: str, argv=None) -> int:
    """The command line of a held-out suite (benchmarks/holdout*/run.py): its package's bugs.py (FAMILIES,
    BUGS) and conf folder, 3 clean seeds; the same commands and scoring as this suite."""
    import importlib
    folder = Path(run_file).resolve().parent
    bugs = importlib.import_module(f"benchmarks.{folder.name}.bugs")
    return main(argv, families=bugs.FAMILIES, find_bugs=lambda ids, family: find(ids, family, bugs.BUGS), seeds=3,
                name=folder.name, conf=folder / "conf")


if __name__ == "__main__":
    sys.exit(main())
