# Two commands do everything on a fresh machine: `make reports` and `make test`.
# Each (re)creates .venv from pyproject.toml when it is missing or older than it.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Where MNIST comes from when it is not cached yet: ../shared/mnist if it exists
# (CI, offline machines), otherwise the mirrors of mnist_lib/datasets/registry.py.
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

.PHONY: help venv data test-data system-packages system-packages-fast reports reports-quick seeds check-reports test test-fast \
	test-extended lab bench clean clean-all publish sync-notebooks

help:
	@echo "make reports        build every HTML report (full profile) into reports/, one notebook per core (JOBS=N)"
	@echo "make reports DATASET=fashion-mnist   the same series on Fashion-MNIST, into reports/fashion-mnist/"
	@echo "make reports DATASET=idx SOURCE=DIR  on a folder of IDX files, into reports/idx-<folder name>/"
	@echo "make test           run the test suite (unit tests + quick notebook build + browser); installs what it needs"
	@echo "make test-extended  the slow tests make test leaves out (failures injected into a Dask cluster, benchmark smoke)"
	@echo "make reports-quick  the quick profile (a stratified subset, minutes)"
	@echo "make seeds          five seeds of 02-05 on the full profile, checked against the seed targets (DATASET= as above)"
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

# One notebook per core: each notebook trains on the fixed thread count of its recipe (`threads`, 1 by default),
# so one at a time would leave the other cores idle. JOBS=1 runs them one after another in this process.
JOBS ?= $(shell nproc 2>/dev/null || echo 1)

reports: data
	$(PY) -m mnist_lib reports --profile $(PROFILE) -j $(JOBS) --data-dir $(DATA_DIR) --output reports $(DATASET_ARG) \
		$(if $(SOURCE),--source $(SOURCE),)

reports-quick:
	$(MAKE) reports PROFILE=quick

# The seeds sweep of DATASET (five seeds of 02-05 on the full profile, checked against the seed targets) on
# JOBS single-threaded workers: notebooks/sweeps/seeds.yaml, or seeds-<DATASET>.yaml for another data set.
SEEDS_FILE := notebooks/sweeps/seeds$(if $(filter-out mnist,$(DATASET)),-$(DATASET),).yaml
seeds: data
	$(PY) -m mnist_lib sweep $(SEEDS_FILE) -j $(JOBS) --data-dir $(DATA_DIR) --output reports $(SOURCE_ARG)

check-reports: $(STAMP)
	$(PY) -m mnist_lib check-reports --reports reports

# What the tests need from the system, as Debian packages: Chromium and its driver (the browser tests), and
# Fashion-MNIST's files (dataset-fashion-mnist, one source of its acquisition chain; not needed when the chain
# has another: $$FASHION_MNIST_SOURCE or files already in $(DATA_DIR)/FashionMNIST/raw). `make test` installs
# the missing ones where it can (root with apt-get); elsewhere it stops before any test, naming them.
FASHION_CACHED := $(or $(FASHION_MNIST_SOURCE),$(wildcard $(DATA_DIR)/FashionMNIST/raw/t10k-labels-idx1-ubyte),$(wildcard /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz))
FAST_PACKAGES = $(if $(FASHION_CACHED),,dataset-fashion-mnist)
TEST_PACKAGES = $(FAST_PACKAGES) $(if $(shell command -v chromium),,chromium) $(if $(shell command -v chromedriver),,chromium-driver)
define install_packages
	@missing="$(strip $(1))"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing the Debian packages the tests need: $$missing"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; } || exit 1; \
	  else \
	    echo "error: the tests need the Debian packages $$missing: install them with \`sudo apt-get install $$missing\`" >&2; \
	    exit 1; \
	  fi; \
	fi
endef

system-packages:
	$(call install_packages,$(TEST_PACKAGES))

system-packages-fast:
	$(call install_packages,$(FAST_PACKAGES))

# The data sets the tests read, verified into $(DATA_DIR)/ by the same acquisition chain as the reports
# (../shared/mnist or $$MNIST_SOURCE is tried first where there is one, never required).
test-data: $(STAMP)
	$(PY) -m mnist_lib data --data-dir $(DATA_DIR) $(if $(MNIST_SOURCE),--source $(MNIST_SOURCE),)
	$(PY) -m mnist_lib data --data-dir $(DATA_DIR) --dataset fashion-mnist

# Two test files at a time (pytest-xdist; a file's tests stay on one worker, so a session fixture such as
# the quick build is built once): most of a build's wall time is imports and kernel start-ups on one core.
# Files go out in collection order, the longest first (tests/conftest.py), not xdist's order by test count.
# TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 2
XDIST = $(if $(filter 0,$(TEST_WORKERS)),-p no:xdist,-n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder)
PYTEST = MNIST_REPORTS_TEST_DATA=$(abspath $(DATA_DIR)) $(PY) -m pytest

test: system-packages test-data
	$(PYTEST) -m "not extended" $(XDIST) $(PYTEST_ARGS)

test-fast: system-packages-fast test-data
	$(PYTEST) -m "not slow" $(XDIST) $(PYTEST_ARGS)

# What make test leaves out to stay under 10 minutes (CI runs it too): failures injected into a real Dask
# cluster (a worker killed mid-run, the scheduler gone), the real 02 notebook swept on it, the benchmark smoke run.
test-extended: system-packages test-data
	$(PYTEST) -m extended $(XDIST) $(PYTEST_ARGS)

# Jupytext (a dependency) pairs every notebook with its py:percent script (notebooks/jupytext.toml):
# saving in JupyterLab writes both files.
lab: data
	cd notebooks && ../$(PY) -m jupyter lab

# Jupytext first (an edited .py reaches its .ipynb), then each parameters cell's annotations and comments from
# mnist_lib.params, then Jupytext again (back to the .py).
sync-notebooks: $(STAMP)
	$(PY) -m jupytext --sync notebooks/*.ipynb
	$(PY) -m mnist_lib sync-notebooks
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
