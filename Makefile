# Two commands: `make run` (the whole site with a worker and demo data) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: run test lint setup clean-data help

help:
	@echo "make run    start the site on http://127.0.0.1:$(PORT)/ with a worker and demo data"
	@echo "make test   run the whole test suite (set DATABASE_URL for PostgreSQL)"
	@echo "make lint   ruff"

$(VENV)/.runtime-installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: $(VENV)/.runtime-installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

setup: $(VENV)/.runtime-installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py createcachetable
	$(PY) manage.py collectstatic --noinput --verbosity 0

# Plain HTTP on the loopback interface: HTTPS=0 turns off secure-only cookies and the TLS redirect.
run: setup
	$(PY) manage.py demo
	HTTPS=$${HTTPS:-0} $(PY) manage.py serve --port $(PORT)

test: $(VENV)/.dev-installed
	$(PY) -m pytest

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
