# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DFU := $(abspath $(VENV))/bin/dfu-search
DEMO ?= demo

.PHONY: help install dev demo test test-all clean gpu-wheels gpu-check gpu-dry-run

help:
	@echo "make demo      install, generate demo data, run a 2-worker study on it, print the best trial"
	@echo "make test      install with dev extras and the Debian packages the tests need, run pytest (2 processes)"
	@echo "make test-all  also the slow tests (EfficientNet, the GPU dry run)"
	@echo "make clean     remove .venv, demo output and caches"
	@echo "make gpu-wheels   download the wheels bench/gpu.sh carries to a GPU machine (.gpu-wheels)"
	@echo "make gpu-dry-run  bench/gpu.sh --cpu: the GPU measurement's steps at tiny sizes on this CPU"
	@echo "make gpu-check    on a GPU machine with .gpu-wheels: bench/gpu.sh, writes bench/.work/gpu.json"

$(VENV)/bin/activate:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "dfu-search needs Python >= 3.11")'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(VENV)/bin/activate pyproject.toml
	./scripts/install.sh $(VENV) .
	@touch $@

$(VENV)/.dev-installed: $(VENV)/bin/activate pyproject.toml
	./scripts/install.sh $(VENV) ".[dev]"
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
dev: $(VENV)/.dev-installed

# A real study on the embedded default storage (demo/dfu-search.db): 2 workers, 10 trials of the quick preset
# (batch 8: the demo data is small; 2 shots a visit keep it under 5 minutes on 2 cores), the degenerate and
# default presets enqueued: the summary shows metadata-only QWK beside each, and the rules that ended the
# degenerate trial's collapsed stages.
demo: $(VENV)/.installed
	@mkdir -p $(DEMO)
	@test -d $(DEMO)/data || $(DFU) demo-data $(DEMO)/data --shots 2
	cd $(DEMO) && $(DFU) launch --study demo --data data --workers 2 --trials 10 --preset quick --set batch_size=8 --folds 3 \
		--enqueue degenerate --enqueue default --cache-dir cache
	@echo "results: $(DEMO)/dfu-search.db; browse them: $(DFU) dashboard --storage sqlite:///$(abspath $(DEMO))/dfu-search.db"

# Two test processes (pytest-xdist): one alone uses ~1 of the 2 cores, as most tests wait on subprocesses,
# servers and the network. worksteal: an idle process takes queued tests from the busy one's tail.
TEST_PROCESSES ?= 2

test: $(VENV)/.dev-installed
	./scripts/system-deps.sh
	$(PY) -m pytest -q -n $(TEST_PROCESSES) --dist worksteal --durations=12  # the suite must stay under 15 min on 2 cores

test-all: $(VENV)/.dev-installed
	./scripts/system-deps.sh
	$(PY) -m pytest -q -n $(TEST_PROCESSES) --dist worksteal --runslow

gpu-wheels:
	./scripts/gpu-wheels.sh .gpu-wheels

gpu-dry-run: $(VENV)/.dev-installed
	bench/gpu.sh --cpu

gpu-check:
	bench/gpu.sh --wheels .gpu-wheels

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache
