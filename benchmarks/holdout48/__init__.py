"""The forty-eighth held-out bug suite: four families written blind (README, docs/diagnostics.md, orchestrator/task.py,
the bug-suite harness and holdout44/46 for format only), each with five one-line bugs; see bugs.py and RESULTS.md."""
