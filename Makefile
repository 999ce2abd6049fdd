# Two commands a newcomer runs: `make run` and `make test`. Both work on a machine with only
# Python 3.11: they create .venv when it is missing and install into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= maild.example.toml
PYTEST_ARGS ?=

.PHONY: run test lint typecheck layers pytest install bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	mkdir -p var
	$(BIN)/maild --config $(CONFIG) init
	$(BIN)/maild --config $(CONFIG) serve

lint: $(STAMP)
	$(BIN)/ruff check maild tests bench
	$(BIN)/ruff format --check maild tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

layers: $(STAMP)
	$(BIN)/lint-imports

pytest: $(STAMP)
	$(BIN)/pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

test: lint typecheck layers pytest

bench: $(STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/routing.py

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache
