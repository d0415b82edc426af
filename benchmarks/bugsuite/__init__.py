"""An injected-bug suite: four model families, each with one-line bugs, run through the CLI and scored.

Written independently of orchestrator/diagnostics (only docs/diagnostics.md's codes are used), so
that it measures the diagnostics the way a new user meets them. See run.py and bugs.py.
"""
