# `make demo` and `make test` are all the set-up a fresh clone needs: the first use of either
# creates .venv and installs the package with its dev and docs extras.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The installer: uv, itself installed from PyPI into the new environment by its pip (a few
# times faster than pip at resolving and installing the extras).
UV := $(VENV)/bin/uv
UV_INSTALL := $(UV) pip install --quiet --python $(PY)
INSTALLED := $(VENV)/.installed
NOTEBOOK_INSTALLED := $(VENV)/.notebook-installed
SPARK_INSTALLED := $(VENV)/.spark-installed
# mkdocs-material prints a notice about MkDocs 2.0 on every build; the site pins mkdocs<2.
export NO_MKDOCS_2_WARNING := 1
# Bytecode caches are written even where the environment turns them off: the suite starts
# dozens of Python processes (test workers, subprocesses, notebook kernels), and without the
# caches each compiles pandas, matplotlib and the package from source again.
unexport PYTHONDONTWRITEBYTECODE
# Runs the notebook named by its argument top to bottom and saves it with its outputs.
define EXECUTE_NOTEBOOK
import sys, nbformat
from nbclient import NotebookClient
path = sys.argv[1]
notebook = nbformat.read(path, as_version=4)
NotebookClient(notebook, timeout=600, record_timing=False, resources={"metadata": {"path": "notebooks"}}).execute()
nbformat.write(notebook, path)
print("executed", path)
endef
export EXECUTE_NOTEBOOK

.PHONY: demo test bytecode test-fast test-spark lint bench sandbox notebook notebooks docs docs-serve dist clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet uv
	$(UV_INSTALL) -e '.[dev,docs]'
	touch $(INSTALLED)

$(NOTEBOOK_INSTALLED): $(INSTALLED)
	$(UV_INSTALL) -e '.[dev,docs,notebook]'
	touch $(NOTEBOOK_INSTALLED)

$(SPARK_INSTALLED): $(INSTALLED)
	$(UV_INSTALL) -e '.[dev,docs,spark]'
	touch $(SPARK_INSTALLED)

demo: $(INSTALLED)
	$(VENV)/bin/coreclaw-frames demo

# Test processes (pytest-xdist): two per core, since many tests wait on loopback latency, a
# subprocess or a notebook kernel; a worker takes the next test as it finishes one.
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) * 2 )))

# Every test. The linters run beside a first collection of the suite, which leaves the
# bytecode of every module it imports (and the tests' rewritten asserts) for the test workers,
# which would otherwise each compile them again as they start.
test: $(INSTALLED)
	$(MAKE) --no-print-directory -j2 lint bytecode
	$(PY) -m pytest -n $(TEST_WORKERS) --dist worksteal

# Errors in collection are left for the test run to report.
bytecode: $(INSTALLED)
	$(PY) -m pytest --collect-only -q -p no:cacheprovider > /dev/null || true

# The inner loop: every test but those marked slow (notebooks, subprocesses, Dask, real-time
# rate limits, the docs build and the wheel), on every core, without the linters.
test-fast: $(INSTALLED)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist worksteal -m "not slow"

# The Spark test (skipped by `make test` where pyspark is missing): installs pyspark, runs it.
test-spark: $(SPARK_INSTALLED)
	$(PY) -m pytest -m spark

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: $(INSTALLED)
	for script in benchmarks/bench_*.py; do $(PY) $$script || exit 1; done

sandbox: $(INSTALLED)
	$(VENV)/bin/coreclaw-frames sandbox --port 8765

# JupyterLab on the notebooks (they start their own sandbox when no key is set).
notebook: $(NOTEBOOK_INSTALLED)
	$(VENV)/bin/jupyter lab notebooks/

# Re-execute every notebook in place, saving its outputs (they are committed with them).
# Without a key in the environment, so that they show the sandbox and never a real account.
notebooks: $(INSTALLED)
	for notebook in notebooks/*.ipynb; do \
	  env -u CORECLAW_API_KEY -u CORECLAW_BASE_URL -u CORECLAW_API_VERSION \
	    $(PY) -c "$$EXECUTE_NOTEBOOK" "$$notebook" || exit 1; \
	done

# The documentation site, into site/ (the test suite builds it too, with --strict).
docs: $(INSTALLED)
	$(VENV)/bin/mkdocs build --strict

# The site on http://127.0.0.1:8000, rebuilt as pages, docstrings or notebooks change.
docs-serve: $(INSTALLED)
	$(VENV)/bin/mkdocs serve --dev-addr 127.0.0.1:8000

# The sdist and the wheel in dist/, as a release would build them, checked by twine.
dist: $(INSTALLED)
	rm -rf dist
	$(PY) -m build --outdir dist .
	$(VENV)/bin/twine check --strict dist/*

clean:
	rm -rf $(VENV) build dist site *.egg-info .pytest_cache .mypy_cache .ruff_cache
