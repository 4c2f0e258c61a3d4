# The two commands the README promises: `make demo` and `make test`.
# Both set everything up from a fresh clone (a virtualenv in .venv, system packages where missing).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench setup system-deps clean

$(BIN)/provider-exporter: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench]'
	@touch $@

setup: $(BIN)/provider-exporter

system-deps:
	bash scripts/system-deps.sh

demo: setup
	$(BIN)/provider-exporter demo

lint: setup
	$(BIN)/ruff check exporter tests bench grafana
	$(BIN)/ruff format --check exporter tests bench grafana
	$(BIN)/mypy

test: setup system-deps lint
	bash scripts/test.sh

bench: setup system-deps
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
