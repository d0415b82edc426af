"""The sixtieth held-out bug suite: four families written blind (README, docs, orchestrator/task.py, the bug-suite
harness and holdout58/59 for format only), each with five one-line bugs; see bugs.py and RESULTS.md."""
