"""The fifty-ninth held-out bug suite: four families written blind (README, docs, orchestrator/task.py, the bug-suite
harness and holdout55/56 for format only), each with five one-line bugs; see bugs.py and RESULTS.md."""
