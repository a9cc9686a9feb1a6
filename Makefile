# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
DEMO ?= demo

.PHONY: help install dev demo test test-all clean

help:
	@echo "make demo      install, generate demo data, train on it, print where the results are"
	@echo "make test      install with dev extras, run pytest"
	@echo "make test-all  also the slow tests (EfficientNet)"
	@echo "make clean     remove .venv, demo output and caches"

$(VENV)/bin/activate:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "dfu-search needs Python >= 3.11")'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.installed: $(VENV)/bin/activate pyproject.toml
	$(PIP) install -q -e .
	@touch $@

$(VENV)/.dev-installed: $(VENV)/bin/activate pyproject.toml
	$(PIP) install -q -e ".[dev]"
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
dev: $(VENV)/.dev-installed

demo: $(VENV)/.installed
	@test -d $(DEMO)/data || $(VENV)/bin/dfu-search demo-data $(DEMO)/data
	$(VENV)/bin/dfu-search train --data $(DEMO)/data --preset quick --folds 3 --out $(DEMO)/run --cache-dir $(DEMO)/cache
	@echo "results: $(DEMO)/run/result.json"

test: $(VENV)/.dev-installed
	$(PY) -m pytest -q

test-all: $(VENV)/.dev-installed
	$(PY) -m pytest -q --runslow

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache
