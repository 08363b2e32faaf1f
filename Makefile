# The two set-up commands of the README: `make up` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: up test lint install vscode

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

up: $(VENV)/.installed
	$(VENV)/bin/codeforge up

# Build the VS Code extension and install it into VS Code / code-server (EDITOR_ARGS, e.g.
# `--editor code-server`), pointed at this checkout's codeforge.
vscode: $(VENV)/.installed
	bash extensions/vscode/scripts/install.sh $(EDITOR_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check codeforge tests $(wildcard benchmarks)
	$(VENV)/bin/ruff format --check codeforge tests $(wildcard benchmarks)
	$(VENV)/bin/mypy

test: $(VENV)/.installed
	bash scripts/install-test-deps.sh
	$(MAKE) lint
	$(VENV)/bin/pytest $(PYTEST_ARGS)
