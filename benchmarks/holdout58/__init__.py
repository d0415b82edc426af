"""The fifty-eighth held-out bug suite: four families written blind (README, docs/diagnostics.md and the bug-suite
harness only), each with five one-line bugs; see bugs.py and RESULTS.md."""
