# `make demo` and `make test` are all the set-up a fresh clone needs: the first use of either
# creates .venv and installs the package with its dev extra.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
NOTEBOOK_INSTALLED := $(VENV)/.notebook-installed
SPARK_INSTALLED := $(VENV)/.spark-installed
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

.PHONY: demo test test-spark lint bench sandbox notebook notebooks clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

$(NOTEBOOK_INSTALLED): $(INSTALLED)
	$(PY) -m pip install --quiet -e '.[dev,notebook]'
	touch $(NOTEBOOK_INSTALLED)

$(SPARK_INSTALLED): $(INSTALLED)
	$(PY) -m pip install --quiet -e '.[dev,spark]'
	touch $(SPARK_INSTALLED)

demo: $(INSTALLED)
	$(VENV)/bin/coreclaw-frames demo

test: lint
	$(PY) -m pytest

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

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
