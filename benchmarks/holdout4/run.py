"""Run the fourth held-out bug suite through the CLI and score it, with benchmarks/bugsuite/run.py's own code.

    PYTHONPATH=. python benchmarks/holdout4/run.py [--only FAMILY] [--bugs a,b] [--seeds 3] [--jobs 1]

Only the conf folder and the bug list differ from the tuned suite: the same commands, the same scoring
(run.py's `run_one`, `score`, `row`, `summary_table`), so the two suites' numbers compare directly.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import benchmarks.bugsuite.run as suite  # noqa: E402
from benchmarks.holdout4.bugs import FAMILIES, find  # noqa: E402



def main(argv=None) -> int:
    return suite.main(argv, families=FAMILIES, find_bugs=find, seeds=3, name="holdout4",
                      conf=Path(__file__).resolve().parent / "conf")


if __name__ == "__main__":
    sys.exit(main())
