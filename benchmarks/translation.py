"""Benchmark the translation ladder against training the final stage directly.

    python benchmarks/translation.py                 # both modes, seed 0
    python benchmarks/translation.py ladder --seed 1 # mode 1 only
    python benchmarks/translation.py direct --iterations 3000

Mode 1 (ladder) runs `python -m orchestrator +task=translation` in a temporary run directory and
prints its wall time and the iterations each stage needed (from ladder.json).
Mode 2 (direct) runs the same CLI with every stage but `translate` removed, from fresh weights,
with the total iterations the ladder used as its budget (plateau stopping off, no LR probe, so it
trains with the same LR as the ladder's translate stage), and prints whether and when it reached
the goal. Both final checkpoints are then scored on the validation and test splits.
Extra arguments after `--` are passed to both runs as Hydra overrides.
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
EARLIER = ("overfit_10", "overfit_100", "target_lm", "first_word")


def cli(run_dir: Path, *overrides: str) -> tuple[float, int, dict]:
    run = run_ladder("translation", run_dir, *overrides)
    return run.wall, run.returncode, run.ladder

def scores(run_dir: Path, stage: str) -> dict:
    """Validation and test metrics of a stage's final weights (the task as that run configured it)."""
    import torch
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    task = instantiate(cfg.task)
    knobs = next(s["knobs"] for s in json.loads((run_dir / "ladder.json").read_text())["stages"]
                 if s["name"] == stage)
    problem = task.build(knobs, seed=0)
    ckpt = run_dir / "checkpoints" / stage / "final.pt"
    problem.model.load_state_dict(torch.load(ckpt, map_location="cpu", weights_only=True)["model"])
    problem.model.eval()
    with torch.no_grad():
        out = {k: v for k, v in problem.evaluate(problem.model).items() if k.startswith("val/")}
        rows = task.test_translations(problem.model, n=len(task.splits["test"]), knobs=knobs)
    from stages.translation import bleu
    out["test/bleu"] = bleu([o for _, _, o in rows], [r for _, r, _ in rows])
    out["test/exact_match"] = sum(o == r for _, r, o in rows) / max(1, len(rows))
    return out


def show(title: str, wall: float, rc: int, doc: dict) -> None:
    print(f"\n== {title}: status {doc['status']} (exit {rc}), wall time {wall:.1f} s")
    print(f"{'stage':<26}{'status':<11}{'iterations':>11}{'budget':>8}  goal")
    for s in doc["stages"]:
        g = s["goal"]
        best = f"{s['best']:.4g}" if s["best"] is not None else "-"
        sign = ">=" if g["mode"] == "max" else "<="
        print(f"{s['name']:<26}{s['status']:<11}{s['iterations']:>11}{s['budget'] or 0:>8}  "
              f"{g['metric']} {sign} {g['target']:g} (best {best})")


def fmt(m: dict) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in m.items())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", nargs="?", default="both", choices=("ladder", "direct", "both"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--iterations", type=int, default=None, help="direct: budget (default: the ladder's total)")
    ap.add_argument("--keep", action="store_true", help="keep the run directories")
    ap.add_argument("overrides", nargs="*", help="Hydra overrides for both runs (after --)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="translation-bench-"))
    common = [f"seed={args.seed}", *args.overrides]
    total = args.iterations
    ladder_scores = None

    if args.mode in ("ladder", "both"):
        wall, rc, doc = cli(tmp / "ladder", *common)
        show("ladder", wall, rc, doc)
        total = sum(s["iterations"] for s in doc["stages"])
        print(f"total iterations {total}; translate stage alone: "
              f"{next(s['iterations'] for s in doc['stages'] if s['name'] == 'translate')}")
        ladder_converged = doc["status"] == "converged"
        if any(s["name"] == "translate" and s["status"] == "converged" for s in doc["stages"]):
            ladder_scores = scores(tmp / "ladder", "translate")
            print("ladder's translate weights:", fmt(ladder_scores))

    if args.mode in ("direct", "both"):
        if total is None:
            sys.exit("direct mode needs --iterations (or run mode both)")
        drop = [f"~ladder.stages.{name}" for name in EARLIER]
        wall, rc, doc = cli(tmp / "direct", *common, *drop, "ladder.stages.translate.after=[]",
                            f"ladder.stages.translate.budget={total}", "ladder.stages.translate.probe=false",
                            "ladder.patience=0")
        show(f"direct (translate from scratch, budget {total})", wall, rc, doc)
        stage = doc["stages"][0]
        direct_scores = scores(tmp / "direct", "translate")
        print("direct translate weights:", fmt(direct_scores))
        if args.mode == "both":
            print()
            if stage["status"] == "converged" and ladder_converged:
                print(f"iterations to the goal: ladder {total} (all stages) vs direct {stage['iterations']}: "
                      f"ratio direct/ladder = {stage['iterations'] / total:.2f}")
            elif ladder_converged:
                print(f"direct training did not reach the goal in {total} iterations (the ladder's total); "
                      f"best {stage['goal']['metric']} {stage['best']:.4g}")
            else:
                print("the ladder did not converge; see above")
    if args.keep:
        print(f"\nrun directories kept in {tmp}")
    else:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
