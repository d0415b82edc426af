"""Benchmark the detection ladder against training the final stage directly, over several seeds.

    python benchmarks/detection.py              # 3 seeds (0, 1, 2): ladder, then direct, per seed
    python benchmarks/detection.py --seeds 1    # seed 0 only (~3-5 min on 2 cores)

For each seed, mode 1 (ladder) runs `python -m orchestrator +task=detection seed=S` and reads the
iterations each stage needed from ladder.json. Mode 2 (direct) runs the same CLI with every stage but
`detect` removed, from fresh weights, with the ladder's total iterations as its budget (plateau stopping
off, no LR probe, so it trains at the LR the ladder's detect stage used), stopping when it reaches the
same goal. Both final `detect` checkpoints are then scored on the test split at the hardest knobs
(count accuracy, mAP@0.5, mean IoU). Wall time and CPU time (of the child process) are printed for
each run: the ladder's also include its LR probe and start checks. Extra arguments after `--` are passed
to every run as Hydra overrides.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.ladder_run import run_ladder  # noqa: E402
EARLIER = ("overfit_10", "overfit_100", "count", "detect_one")


def cli(run_dir: Path, *overrides: str) -> tuple[float, float, dict]:
    """(wall seconds, CPU seconds, ladder.json) of one run."""
    run = run_ladder("detection", run_dir, *overrides)
    return run.wall, run.cpu, run.ladder

def test_scores(run_dir: Path) -> dict:
    """Test metrics of the `detect` stage's final weights (the task as that run configured it)."""
    import torch
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    task = instantiate(OmegaConf.load(run_dir / ".hydra" / "config.yaml").task)
    ckpt = run_dir / "checkpoints" / "detect" / "final.pt"
    if not ckpt.exists():
        return {}
    model = task.new_model()
    model.load_state_dict(torch.load(ckpt, map_location="cpu", weights_only=True)["model"])
    return task.test_metrics(model)


def run_seed(tmp: Path, seed: int, overrides: list[str]) -> dict:
    common = [f"seed={seed}", *overrides]
    wall, cpu, doc = cli(tmp / f"ladder{seed}", *common)
    stages = {s["name"]: s for s in doc["stages"]}
    total = sum(s["iterations"] for s in doc["stages"])
    row = {"seed": seed, "ladder_status": doc["status"], "ladder_iterations": total,
           "ladder_stages": {n: s["iterations"] for n, s in stages.items()}, "ladder_wall": wall, "ladder_cpu": cpu,
           "ladder_test": test_scores(tmp / f"ladder{seed}")}
    lr = stages["detect"].get("lr") if "detect" in stages else None  # the LR it trained at
    drop = [f"~ladder.stages.{name}" for name in EARLIER]
    wall, cpu, doc = cli(tmp / f"direct{seed}", *common, *drop, "ladder.stages.detect.after=[]",
                         f"ladder.stages.detect.budget={total}", "ladder.stages.detect.probe=false",
                         "ladder.patience=0", *([f"optim.lr={lr}"] if lr else []))
    stage = doc["stages"][0]
    row.update({"direct_status": stage["status"], "direct_iterations": stage["iterations"],
                "direct_best": stage["best"], "direct_wall": wall, "direct_cpu": cpu,
                "direct_test": test_scores(tmp / f"direct{seed}")})
    return row


def show(rows: list[dict]) -> None:
    def t(m: dict, k: str) -> str:
        return f"{m[k]:.3f}" if k in m else "-"

    print("\n| seed | mode | reached goal | iterations | wall s | CPU s | test count acc | test mAP@0.5 "
          "| test mean IoU |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        per_stage = " + ".join(str(v) for v in r["ladder_stages"].values())
        print(f"| {r['seed']} | ladder | {r['ladder_status'] == 'converged'} | {r['ladder_iterations']} ({per_stage}) "
              f"| {r['ladder_wall']:.0f} | {r['ladder_cpu']:.0f} | {t(r['ladder_test'], 'test/count_acc')} "
              f"| {t(r['ladder_test'], 'test/map50')} | {t(r['ladder_test'], 'test/mean_iou')} |")
        print(f"| {r['seed']} | direct | {r['direct_status'] == 'converged'} | {r['direct_iterations']} "
              f"| {r['direct_wall']:.0f} | {r['direct_cpu']:.0f} | {t(r['direct_test'], 'test/count_acc')} "
              f"| {t(r['direct_test'], 'test/map50')} | {t(r['direct_test'], 'test/mean_iou')} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1")
    ap.add_argument("--keep", action="store_true", help="keep the run directories")
    ap.add_argument("--json", type=Path, default=None, help="also write the rows to this file")
    ap.add_argument("overrides", nargs="*", help="Hydra overrides for every run (after --)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="detection-bench-"))
    rows = []
    for seed in range(args.seeds):
        rows.append(run_seed(tmp, seed, args.overrides))
        print(json.dumps(rows[-1]), flush=True)
    show(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    if args.keep:
        print(f"\nrun directories kept in {tmp}")
    else:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
