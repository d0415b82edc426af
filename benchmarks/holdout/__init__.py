"""A held-out injected-bug suite: new models and new bug variations the diagnostics were never tuned on.

Same format as benchmarks/bugsuite (whose common pieces and runner it reuses); see bugs.py and run.py.
"""
