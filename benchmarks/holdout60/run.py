"""Run the sixtieth held-out bug suite through the CLI and score it, with benchmarks/bugsuite/run.py's own code.

    PYTHONPATH=. python benchmarks/holdout60/run.py [--only FAMILY] [--bugs a,b] [--seeds 5] [--jobs 1]

Only the conf folder and the bug list (bugs.py) differ from the tuned suite: the same commands, the same
scoring, so the suites' numbers compare directly.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.bugsuite.run import held_out_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(held_out_main(__file__))
