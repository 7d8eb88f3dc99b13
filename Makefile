# Two commands: `make run` (the whole site with a worker and demo data) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The real mlflow client, in a virtual environment of its own (the site never imports mlflow): the contract tests
# (tests/mlflow_compat/test_client_*.py) and bench/mlflow_client.py run it.
MLFLOW_VENV ?= $(VENV)-mlflow
PORT ?= 8000

.PHONY: run test lint setup clean-data help

help:
	@echo "make run    start the site on http://127.0.0.1:$(PORT)/ with a worker and demo data"
	@echo "make test   run the whole test suite, the real mlflow client's included (set DATABASE_URL for PostgreSQL)"
	@echo "make lint   ruff"

$(VENV)/.runtime-installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: $(VENV)/.runtime-installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

$(MLFLOW_VENV)/.installed: requirements-mlflow.txt
	test -x $(MLFLOW_VENV)/bin/python || $(PYTHON) -m venv $(MLFLOW_VENV)
	$(MLFLOW_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(MLFLOW_VENV)/bin/python -m pip install --quiet -r requirements-mlflow.txt
	touch $@

setup: $(VENV)/.runtime-installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py createcachetable
	$(PY) manage.py collectstatic --noinput --verbosity 0

# Plain HTTP on the loopback interface: HTTPS=0 turns off secure-only cookies and the TLS redirect.
run: setup
	$(PY) manage.py demo
	HTTPS=$${HTTPS:-0} $(PY) manage.py serve --port $(PORT)

test: $(VENV)/.dev-installed $(MLFLOW_VENV)/.installed
	MLFLOW_VENV=$(MLFLOW_VENV) $(PY) -m pytest

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
