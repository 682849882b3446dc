# Two commands on a fresh machine with Python 3.11 and make:
#   make run    set up .venv if needed, seed the landing zone, run the whole pipeline
#   make test   set up .venv if needed, run the tests
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export OPENCLAW_HOME ?= $(CURDIR)/.openclaw
export DAGSTER_HOME ?= $(OPENCLAW_HOME)/dagster

.PHONY: setup run seed ui replay status test test-fast coverage lint format docs bench clean

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

setup: $(STAMP)

run: setup
	$(BIN)/openclaw seed
	$(BIN)/openclaw run

seed: setup
	$(BIN)/openclaw seed

status: setup
	$(BIN)/openclaw status

ui: setup
	$(BIN)/openclaw ui

# The living pipeline: Jan-Jun first, then a month a minute with the UI open (http://127.0.0.1:3000).
replay: setup
	$(BIN)/openclaw replay --keep-ui $(REPLAY_ARGS)

# The JUnit report (reports/junit.xml) is what release readiness reads of the tests; it costs about 2%.
test: setup
	$(BIN)/python -m pytest --junitxml=reports/junit.xml

test-fast: setup
	$(BIN)/python -m pytest -m "not cli and not slow"

# All tests with line coverage: reports/junit.xml and reports/coverage.xml for release readiness.
# Separate from `make test` because coverage costs about 60% more time.
coverage: setup
	$(BIN)/python -m pytest --junitxml=reports/junit.xml --cov=openclaw_assets --cov-report=xml:reports/coverage.xml --cov-report=term

lint: setup
	$(BIN)/ruff check openclaw_assets openclaw_assets_tests bench
	$(BIN)/ruff format --check openclaw_assets openclaw_assets_tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

format: setup
	$(BIN)/ruff format openclaw_assets openclaw_assets_tests bench
	$(BIN)/ruff check --fix openclaw_assets openclaw_assets_tests bench

docs: setup
	$(BIN)/python -m openclaw_assets.docs

# The cases that read a finished pipeline need one: run it first if $(OPENCLAW_HOME) has none.
bench: setup
	@test -e $(OPENCLAW_HOME)/feast/online.db || { $(BIN)/openclaw seed && $(BIN)/openclaw run --no-serve; }
	$(BIN)/python -m bench; status=$$?; $(BIN)/python -m bench report; exit $$status

clean:
	rm -rf $(OPENCLAW_HOME) .pytest_cache .ruff_cache .mypy_cache reports .coverage
