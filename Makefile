# Every target sets itself up on a fresh machine: a .venv is created and the project installed
# (with dev extras) whenever pyproject.toml is newer than the last install.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: install test lint format demo ui simulator bench clean dagster-home

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# Two workers (TEST_WORKERS=0 runs in this process); a file's tests stay on one worker, so module
# fixtures (a simulated archive, a PostgreSQL or S3 server) are built once.
TEST_WORKERS ?= 2

test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	@mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

dagster-home: $(DAGSTER_HOME)/dagster.yaml

demo: $(STAMP) dagster-home
	$(BIN)/rc-pipeline demo

ui: $(STAMP) dagster-home
	$(BIN)/rc-pipeline ui

simulator: $(STAMP)
	$(BIN)/rc-pipeline simulator

# Benchmarks (not part of `make test`): about an hour on 2 cores (the 30-day fault storm alone takes about 25 minutes); `make bench BENCH_ARGS=--quick`
# for small sizes. Prints a table and writes bench/results/latest.json.
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
