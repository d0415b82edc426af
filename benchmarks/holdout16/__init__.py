"""A sixteenth held-out injected-bug suite: four more new models and bug variations, written blind to the diagnostics.

Same format as benchmarks/holdout15 (whose layout it copies and whose runner it reuses); see bugs.py and run.py.
"""
