# Two commands a newcomer runs: `make run` and `make test`. Both work on a machine with only
# Python 3.11: they create .venv when it is missing and install into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= maild.example.toml
PYTEST_ARGS ?=

.PHONY: run test lint typecheck layers pytest install dovecot bench clean

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

pytest: $(STAMP) dovecot
	$(BIN)/pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

# The IMAP tests run their own Dovecot on a loopback port. Installed from Debian's packages when
# we are root and it is missing; otherwise those tests skip, naming Dovecot (and .ci/run fails).
dovecot:
	@if ! command -v dovecot >/dev/null 2>&1 && [ ! -x /usr/sbin/dovecot ] \
		&& [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing dovecot-imapd for the IMAP tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null; \
	fi

test: lint typecheck layers pytest

bench: $(STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/routing.py
	$(BIN)/python bench/smtp.py
	$(BIN)/python bench/latency.py
	$(BIN)/python bench/hostile.py
	$(BIN)/python bench/compress.py

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache
