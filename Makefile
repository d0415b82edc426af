# `make run` trains the default ladder; `make test` runs the test suite.
# Both create .venv and install what is needed the first time.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
TASK ?= digits
ARGS ?=

.PHONY: run test bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The CPU build of torch first: an unpinned torch would pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

run: $(VENV)/.installed
	$(BIN)/python -m orchestrator +task=$(TASK) $(ARGS)

# one torch thread per process: the suite's CLI runs and workers then never oversubscribe the cores
# (on a busy 2-core machine, torch's default threads made a ladder 6x slower); one pytest worker per core,
# each test file on one worker (its module fixtures then train once)
test: $(VENV)/.installed
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n auto --dist loadfile

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/overhead.py

clean:
	rm -rf $(VENV)
