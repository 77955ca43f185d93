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
# The data set of the whole series: mnist, fashion-mnist, or idx with SOURCE=<folder of IDX files>.
# Unset: the profile's common.dataset, else mnist. Another data set's reports go to reports/<name>/.
DATASET ?=
SOURCE ?=
DATASET_ARG := $(if $(DATASET),--dataset $(DATASET),)
ifeq ($(filter-out mnist,$(DATASET)),)
SOURCE_ARG := $(if $(SOURCE),--source $(SOURCE),$(if $(MNIST_SOURCE),--source $(MNIST_SOURCE),))
else
SOURCE_ARG := $(if $(SOURCE),--source $(SOURCE),)
endif

.PHONY: help venv data reports reports-quick check-reports test test-fast lab bench clean clean-all publish sync-notebooks

help:
	@echo "make reports        build every HTML report (full profile) into reports/"
	@echo "make reports DATASET=fashion-mnist   the same series on Fashion-MNIST, into reports/fashion-mnist/"
	@echo "make reports DATASET=idx SOURCE=DIR  on a folder of IDX files, into reports/idx-<folder name>/"
	@echo "make test           run the test suite (unit tests + quick notebook build + browser)"
	@echo "make reports-quick  the quick profile (a stratified subset, minutes)"
	@echo "make data           acquire and verify MNIST (or DATASET) into $(DATA_DIR)/"
	@echo "make lab            JupyterLab on notebooks/ with the project's kernel and Jupytext (.ipynb <-> .py)"
	@echo "make sync-notebooks bring each notebook and its paired notebooks/*.py script in step (jupytext --sync)"
	@echo "make publish        gather the built reports into site/ for any static host (see README: the site)"
	@echo "make bench          speed benchmarks (reports/benchmarks.json, .md)"
	@echo "make check-reports  open the built reports in headless Chromium, save screenshots"

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	# jupyter-events pulls in jsonschema's format extras; one of them, rfc3987-syntax, builds 38 parsers
	# whenever nbformat is imported: 1.4 s in every notebook's process, which made a build of seven
	# stand-in notebooks 1.85x slower (37.3 s against 20.2 s). Only IRI format checks, unused here, need it.
	$(PY) -m pip uninstall --quiet --yes rfc3987-syntax
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (mnist-reports)" >/dev/null
	touch $(STAMP)

venv: $(STAMP)

data: $(STAMP)
	$(PY) -m mnist_lib data --data-dir $(DATA_DIR) $(DATASET_ARG) $(SOURCE_ARG)

reports: data
	$(PY) -m mnist_lib reports --profile $(PROFILE) --data-dir $(DATA_DIR) --output reports $(DATASET_ARG) \
		$(if $(SOURCE),--source $(SOURCE),)

reports-quick:
	$(MAKE) reports PROFILE=quick

check-reports: $(STAMP)
	$(PY) -m mnist_lib check-reports --reports reports

# Two test files at a time (pytest-xdist; a file's tests stay on one worker, so a session fixture such as
# the quick build is built once): most of a build's wall time is imports and kernel start-ups on one core.
# TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 2
XDIST = $(if $(filter 0,$(TEST_WORKERS)),-p no:xdist,-n $(TEST_WORKERS) --dist loadfile)

test: $(STAMP)
	MNIST_SOURCE=$(MNIST_SOURCE) $(PY) -m pytest $(XDIST) $(PYTEST_ARGS)

test-fast: $(STAMP)
	MNIST_SOURCE=$(MNIST_SOURCE) $(PY) -m pytest -m "not slow" $(XDIST) $(PYTEST_ARGS)

# Jupytext (a dependency) pairs every notebook with its py:percent script (notebooks/jupytext.toml):
# saving in JupyterLab writes both files.
lab: data
	cd notebooks && ../$(PY) -m jupyter lab

sync-notebooks: $(STAMP)
	$(PY) -m jupytext --sync notebooks/*.ipynb

publish: $(STAMP)
	$(PY) -m mnist_lib publish --reports reports --output site

bench: data
	$(PY) benchmarks/run.py --data-dir $(DATA_DIR) --output reports

# Rendered reports, executed notebooks and run stamps (the next build reruns everything);
# checkpoints (keyed by code and settings, never stale) and build history stay.
# Each other data set's folder (reports/<name>/: its build.json, history or checkpoints) is cleaned the same way.
DATASET_FOLDERS := $(sort $(patsubst %/,%,$(dir $(wildcard reports/*/build.json reports/*/history reports/*/checkpoints))))

clean:
	rm -rf reports/*.html reports/*.json reports/*.npz reports/*.md reports/executed reports/screenshots
	$(foreach d,$(DATASET_FOLDERS),rm -rf $(d)/*.html $(d)/*.json $(d)/*.npz $(d)/*.md $(d)/executed $(d)/screenshots;)

clean-all: clean
	rm -rf reports/checkpoints reports/history checkpoints
	$(foreach d,$(DATASET_FOLDERS),rm -rf $(d)/checkpoints $(d)/history;)
