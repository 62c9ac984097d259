# The front door: `make demo` and `make test` (README "Quick start").
# Both create the virtual environment when it is missing and install the locked
# dependencies only when a lock file changed, so a second run is fast.

PYTHON ?= python3
VENV ?= .venv
DATA_DIR ?= var
PORT ?= 8000
PYTEST_ARGS ?=

BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check --quiet

.PHONY: demo test serve check lint typecheck lock messages clean help

help:
	@echo "make demo    run the demo bank on embedded SQLite (DATA_DIR=$(DATA_DIR), PORT=$(PORT))"
	@echo "make test    run the whole test suite (DATABASE_URL selects the database)"
	@echo "make lint    ruff, mypy, import-linter, migrations and translations checks"
	@echo "make lock    re-resolve requirements/*.txt from pyproject.toml (needs uv)"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "bankmall needs Python >= 3.11, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime-installed: requirements/lock.txt pyproject.toml | $(BIN)/python
	$(PIP) install --require-hashes --no-deps -r requirements/lock.txt
	$(PIP) install --no-deps -e .
	@touch $@

$(VENV)/.dev-installed: requirements/dev-lock.txt $(VENV)/.runtime-installed
	$(PIP) install --require-hashes --no-deps -r requirements/dev-lock.txt
	@touch $@

demo: $(VENV)/.runtime-installed
	$(BIN)/bankmall --data-dir "$(DATA_DIR)" demo --port "$(PORT)"

serve: $(VENV)/.runtime-installed
	$(BIN)/bankmall --data-dir "$(DATA_DIR)" serve --port "$(PORT)"

check: $(VENV)/.runtime-installed
	$(BIN)/bankmall --data-dir "$(DATA_DIR)" check

test: $(VENV)/.dev-installed
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	BANKMALL_DATA_DIR="$$(mktemp -d)" $(BIN)/python -m django makemigrations --check --dry-run --settings=bankmall.settings
	$(BIN)/python -m bankmall.core.i18n check

messages: $(VENV)/.dev-installed
	$(BIN)/python -m bankmall.core.i18n compile

lock:
	uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes -q -o requirements/lock.txt
	uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 --generate-hashes -q -o requirements/dev-lock.txt

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
