# Two commands do everything on a fresh machine: `make reports` and `make test`.
# Each (re)creates .venv from pyproject.toml when it is missing or older than it.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Where MNIST comes from when it is not cached yet: ../shared/mnist if it exists
# (CI, offline machines), otherwise the mirrors built into mnist_lib.data.
MNIST_SOURCE ?= $(wildcard ../shared/mnist)
DATA_DIR ?= data
PROFILE ?= full
SOURCE_ARG := $(if $(MNIST_SOURCE),--source $(MNIST_SOURCE),)

.PHONY: help venv data reports reports-quick check-reports test test-fast lab bench clean clean-all

help:
	@echo "make reports        build every HTML report (full profile) into reports/"
	@echo "make test           run the test suite (unit tests + quick notebook build + browser)"
	@echo "make reports-quick  the quick profile (a stratified subset, minutes)"
	@echo "make data           acquire and verify MNIST into $(DATA_DIR)/"
	@echo "make lab            JupyterLab on notebooks/ with the project's kernel"
	@echo "make bench          speed benchmarks (reports/benchmarks.json, .md)"
	@echo "make check-reports  open the built reports in headless Chromium, save screenshots"

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (mnist-reports)" >/dev/null
	touch $(STAMP)

venv: $(STAMP)

data: $(STAMP)
	$(PY) -m mnist_lib data --data-dir $(DATA_DIR) $(SOURCE_ARG)

reports: data
	$(PY) -m mnist_lib reports --profile $(PROFILE) --data-dir $(DATA_DIR) --output reports

reports-quick:
	$(MAKE) reports PROFILE=quick

check-reports: $(STAMP)
	$(PY) -m mnist_lib check-reports --reports reports

test: $(STAMP)
	MNIST_SOURCE=$(MNIST_SOURCE) $(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	MNIST_SOURCE=$(MNIST_SOURCE) $(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

lab: data
	cd notebooks && ../$(PY) -m jupyter lab

bench: data
	$(PY) benchmarks/run.py --data-dir $(DATA_DIR) --output reports

# Rendered reports, executed notebooks and run stamps (the next build reruns everything);
# checkpoints (keyed by code and settings, never stale) and build history stay.
clean:
	rm -rf reports/*.html reports/*.json reports/*.npz reports/*.md reports/executed reports/screenshots

clean-all: clean
	rm -rf reports/checkpoints reports/history checkpoints
