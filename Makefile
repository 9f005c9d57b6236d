# Two commands matter: `make run` (the API with its development issuer) and
# `make test`. Both build .venv from the hashed lock file on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP_COMPILE := $(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe \
	--no-emit-index-url --no-emit-find-links

.PHONY: run token test lint format migrate lock bench

# A stock venv's pip may be too old for the lock (pip 23.2 refuses pytest-cov's
# `coverage[toml]` in hash-checking mode): first the lock's own pip, hash-checked.
$(VENV)/.installed: requirements-bootstrap.lock requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes \
		-r requirements-bootstrap.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes \
		-r requirements-dev.lock
	touch $@

run: $(VENV)/.installed
	$(BIN)/python server.py

# A development token: make token ARGS="--sub alice --scope read:transactions --expires-in 3600"
token: $(VENV)/.installed
	@$(BIN)/python -m auth.dev_issuer $(ARGS)

test: $(VENV)/.installed
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

migrate: $(VENV)/.installed
	$(BIN)/python -m cashman.migrate

# Issue 12's side-by-side benchmark: one run, about 20 minutes, on a quiet machine
# (wrk and Node 20 needed). Writes bench/results/compare.{json,md} and the plot
# bench/cpu-per-request.png, and prints the tables for BENCHMARKS.md.
bench: $(VENV)/.installed
	npm ci --prefix bench/express --no-audit --no-fund
	$(BIN)/python bench/bench_compare.py

# Re-pin both lock files from pyproject.toml (commit the result on its own).
lock: $(VENV)/.installed
	$(PIP_COMPILE) -o requirements.lock pyproject.toml
	$(PIP_COMPILE) --extra dev -o requirements-dev.lock pyproject.toml
	$(PIP_COMPILE) -o requirements-bootstrap.lock requirements-bootstrap.in
