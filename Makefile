# Herald -- `make run` starts it, `make test` proves it. `make help` lists everything.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TSTAMP := $(VENV)/.installed-test
BENCH_PG ?= postgresql://postgres@127.0.0.1:5432/test

.DEFAULT_GOAL := help
.PHONY: help run test test-fast lint format bench fake-smtp fake-twilio migrate clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Herald needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	@touch $@

$(TSTAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

run: $(STAMP) ## Start Herald (API + console + worker) on SQLite under ./var, on http://127.0.0.1:8000
	$(BIN)/herald serve

migrate: $(STAMP) ## Create or upgrade the database schema
	$(BIN)/herald migrate

# One pytest worker per core, four at most (pytest-xdist): each worker has its own PostgreSQL database, temporary
# directories and ports, so the suite runs in about two thirds of the time on two cores; the cap keeps the
# workers' processes within PostgreSQL's default 100 connections. TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= auto
XDIST := -n $(TEST_WORKERS) --maxprocesses=4

test: $(TSTAMP) ## Install test dependencies and run the whole suite (PostgreSQL tests need a server; CI=true requires it)
	$(BIN)/python -m pytest -q $(XDIST)

test-fast: $(TSTAMP) ## The suite without the process-level acceptance tests
	$(BIN)/python -m pytest -q $(XDIST) -m "not slow"

lint: $(TSTAMP) ## ruff and mypy (strict)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

format: $(TSTAMP) ## Format and fix what ruff can
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

bench: $(TSTAMP) ## Dispatch throughput, renders per core, 1M-row CSV import, 1M-contact campaign, events/s and event-to-SMS latency (SQLite + PostgreSQL) (each prints JSON)
	$(BIN)/python bench/dispatch.py
	$(BIN)/python bench/render.py
	$(BIN)/python bench/import.py --sqlite --database-url $(BENCH_PG)
	$(BIN)/python bench/campaign.py
	$(BIN)/python bench/campaign.py --database-url $(BENCH_PG)
	$(BIN)/python bench/events.py --both --database-url $(BENCH_PG)
	$(BIN)/python bench/events.py --split --database-url $(BENCH_PG)

fake-smtp: $(STAMP) ## A local SMTP sink on 127.0.0.1:2525
	$(BIN)/herald fake smtp

fake-twilio: $(STAMP) ## A local Twilio-shaped API on 127.0.0.1:8081
	$(BIN)/herald fake twilio

clean: ## Remove the virtual environment and local data (./var)
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
