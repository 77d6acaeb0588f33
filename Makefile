# One entry point for every task. `make test` and `make demo` set everything up themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
# Small linear-algebra calls are far slower when BLAS threads compete for 2 cores.
export OPENBLAS_NUM_THREADS := 1

# Debian/Ubuntu packages the platform needs at build and test time.
SYSTEM_PACKAGES := gcc make mosquitto mosquitto-dev libssl-dev python3-venv python3-dev

# Parts append to these in mk/<part>.mk.
SETUP_PREREQS :=
TEST_PREREQS :=
BENCH_TARGETS :=
DEMO_TARGETS :=
LINT_TARGETS :=

.PHONY: help setup system-packages test pytest demo bench lint lint-python clean
.DEFAULT_GOAL := help

help:
	@echo "make demo    - run the platform demo and write demo-report/index.html"
	@echo "make test    - run every test (C, firmware on MicroPython, Python, end to end)"
	@echo "make bench   - run the benchmarks (printed and written to bench/results/)"
	@echo "make lint    - ruff + mypy on the Python, -Werror on the C"
	@echo "make cross   - compile the C core for aarch64 Linux"
	@echo "make setup   - create .venv, install the project, build the C core"

include $(sort $(wildcard mk/*.mk))

system-packages:
	@tools/ensure-system-packages.sh $(SYSTEM_PACKAGES)

# The venv is (re)installed when the packaging changes; the C core is rebuilt by its own rule.
$(VENV)/.installed: pyproject.toml setup.py
	@$(MAKE) --no-print-directory system-packages
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev]'
	@touch $@

setup: $(VENV)/.installed $(SETUP_PREREQS)

pytest: setup
	$(PY) -m pytest tests

test: setup $(TEST_PREREQS)
	$(PY) -m pytest tests

demo: setup $(DEMO_TARGETS)

# Every benchmark runs even when an earlier one reports a MISS (its exit status is 1).
bench: setup
	@$(MAKE) --no-print-directory -k $(BENCH_TARGETS)

lint-python: setup
	$(BIN)/ruff check .
	$(BIN)/mypy dsp_c edge_agent cloud protocol

lint: lint-python $(LINT_TARGETS)

clean:
	rm -rf build dist *.egg-info demo-report bench/results
