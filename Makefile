# startle — the two commands that matter:  make run   and   make test
# Both run `setup` first: Docker engine, QEMU/binfmt, Toxiproxy, virtualenv, images (idempotent, cached).

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STARTLE := $(VENV)/bin/startle
PYTEST := $(PY) -m pytest -p no:cacheprovider

.PHONY: run test setup unit integration scenarios mutants doctor clean help bench-center bench-report

help:
	@echo "make run    set up, then run every scenario (reports/latest/)"
	@echo "make test   set up, then unit + integration tests (mutants included)"
	@echo "make unit   unit tests only (no Docker)"
	@echo "make bench-center   requests/s the mock center sustains (wrk)"
	@echo "make bench-report   seconds to build every report of 100 synthetic scenarios"

setup:
	@bash scripts/setup.sh

run: setup
	$(STARTLE) run -j 3

test: setup mutants
	$(PYTEST) tests/unit tests/integration scenarios
	$(STARTLE) clean --check

unit:
	$(PYTEST) tests/unit

integration: setup mutants
	$(PYTEST) tests/integration scenarios

mutants: setup
	$(PY) -m harness.images build --mutants

doctor:
	$(STARTLE) doctor

clean:
	$(STARTLE) clean --all

bench-center: setup
	@command -v wrk >/dev/null || apt-get install -y -qq wrk </dev/null >/dev/null
	$(PY) benchmarks/center_throughput.py

bench-report: setup
	$(PY) benchmarks/report_build.py
